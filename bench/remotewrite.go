package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/golang/snappy"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"

	"citywatch/store"
	"citywatch/store/forward"
	"citywatch/store/remotewrite"
)

func startRemoteWriteVM() (*server, error) {
	return startServer("victoria-metrics", "/health", http.StatusOK, 30*time.Second, func(dir, addr string) ([]string, error) {
		return []string{"-httpListenAddr=" + addr, "-storageDataPath=" + filepath.Join(dir, "data"), "-loggerLevel=ERROR"}, nil
	})
}

type remoteWriteResult struct {
	queueResult
	direct     float64 // samples/s
	writesOnly float64 // samples/s of the baseline's writes with bodies encoded beforehand
}

const rwBatch = 5000

// remoteWriteBench measures, against a real VictoriaMetrics: samples/s through store/remotewrite (Append to
// the disk queue, sender with Prometheus' client) vs the same batches written directly with Prometheus'
// remote-write client; the drain rate of a backlog of 5,000 samples/s × outage; and queue bytes per sample.
func remoteWriteBench(samples int, outage time.Duration) (remoteWriteResult, error) {
	var res remoteWriteResult
	vm, err := startRemoteWriteVM()
	if err != nil {
		return res, err
	}
	defer vm.stop()
	writeURL := vm.url + "/api/v1/write"
	batches := samples / rwBatch
	t0 := time.Now().Add(-time.Hour).UnixMilli()

	// Baseline: the same batches of samples written directly, without a queue: each batch encoded as
	// Prometheus' remote write 1.0 (prompb with the edge label, snappy) and sent with Prometheus' own client,
	// one after the other. A forwarder without a queue has to encode too, so the ratio is the queue's cost.
	// The rate of the writes alone (bodies encoded beforehand) is reported beside it.
	u, _ := url.Parse(writeURL)
	client, err := remote.NewWriteClient("bench", &remote.ClientConfig{URL: &config_util.URL{URL: u},
		Timeout: model.Duration(30 * time.Second), HTTPClientConfig: config_util.DefaultHTTPClientConfig})
	if err != nil {
		return res, err
	}
	encode := func(batch []store.Sample) ([]byte, error) {
		req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, len(batch))}
		for i, s := range batch {
			req.Timeseries[i] = prompb.TimeSeries{
				Labels: []prompb.Label{{Name: "__name__", Value: s.Name}, {Name: "device", Value: s.Labels[0].Value},
					{Name: "district", Value: s.Labels[1].Value}, {Name: "edge", Value: "bench"}},
				Samples: []prompb.Sample{{Value: s.V, Timestamp: s.T}}}
		}
		pb, err := req.Marshal()
		return snappy.Encode(nil, pb), err
	}
	direct := make([][]store.Sample, batches)
	for k := range direct {
		direct[k] = benchSamples("bench_rw_direct", k, rwBatch, t0)
	}
	// Warm-up: the first write creates VictoriaMetrics' partition; neither side should pay for that.
	warm, err := encode(direct[0])
	if err != nil {
		return res, err
	}
	if _, err := client.Store(context.Background(), warm, 0); err != nil {
		return res, fmt.Errorf("warm-up write: %w", err)
	}
	start := time.Now()
	for _, batch := range direct {
		body, err := encode(batch)
		if err != nil {
			return res, err
		}
		if _, err := client.Store(context.Background(), body, 0); err != nil {
			return res, fmt.Errorf("direct write: %w", err)
		}
	}
	res.direct = float64(batches*rwBatch) / time.Since(start).Seconds()
	bodies := make([][]byte, batches)
	for k := range bodies {
		if bodies[k], err = encode(benchSamples("bench_rw_preencoded", k, rwBatch, t0)); err != nil {
			return res, err
		}
	}
	start = time.Now()
	for _, b := range bodies {
		if _, err := client.Store(context.Background(), b, 0); err != nil {
			return res, fmt.Errorf("direct write: %w", err)
		}
	}
	res.writesOnly = float64(batches*rwBatch) / time.Since(start).Seconds()

	newWriter := func(dir string) (queueWriter, error) {
		w, err := remotewrite.New(remotewrite.Config{Name: "bench", URL: writeURL, Settings: forward.Settings{Edge: "bench",
			QueueDir: dir, BatchSize: rwBatch, FlushInterval: 100 * time.Millisecond}}, remotewrite.Deps{Logger: quiet})
		return openQueueWriter(w, err, func(st remotewrite.Status) (int64, int64, forward.State, string) {
			return st.Sent, st.QueueSamples, st.State, st.LastError
		})
	}
	res.queueResult, err = measureQueue("remote writer", "bench_rw_", newWriter, rwBatch, batches, outage, t0)
	return res, err
}

func remoteWriteRows(add func(row), samples int, outage time.Duration) {
	r, err := remoteWriteBench(samples, outage)
	if err != nil {
		failed(add, "remote write", err)
		return
	}
	add(row{fmt.Sprintf("Remote write to VictoriaMetrics: samples/s through store/remotewrite (disk queue → sender), %d samples in batches of 5,000", samples),
		fmt.Sprintf("%.0f/s", r.queued), fmt.Sprintf("%.0f/s (same batches encoded and sent with Prometheus' remote-write client, no queue; %.0f/s sending bodies encoded beforehand)", r.direct, r.writesOnly),
		ratio(r.queued, r.direct), "ratio ≥0.8"})
	add(row{fmt.Sprintf("Remote write drain after a %s outage at 5,000 samples/s (%d queued)", outage, r.backlog),
		fmt.Sprintf("%.0f/s, %.1f s", r.drain, r.drainSeconds), fmt.Sprintf("%s of outage", outage),
		fmt.Sprintf("%.1f× real time", r.ratio), "≥5× real time"})
	add(row{"Remote write queue disk bytes per sample (snappy prompb records + framing; 4 labels + edge)",
		fmt.Sprintf("%.1f B", r.bytesPerSample), "", "", ""})
}
