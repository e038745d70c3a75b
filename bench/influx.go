package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"citywatch/config"
	"citywatch/internal/testenv"
	"citywatch/store/forward"
	"citywatch/store/influx"
)

// influxd is an influxd 1.8 child process on free loopback ports, configured like internal/testenv's (which
// needs a testing.TB; the configuration is testenv.InfluxdConfig), with database "citywatch" created.
type influxd struct{ *server }

const influxBucket = "citywatch/autogen"

func startInfluxd() (*influxd, error) {
	c, err := startServer("influxd", "/ping", http.StatusNoContent, 60*time.Second, func(dir, addr string) ([]string, error) {
		conf := filepath.Join(dir, "influxdb.conf")
		cfg := testenv.InfluxdConfig(dir, "127.0.0.1:"+strconv.Itoa(freePort()), addr)
		return []string{"run", "-config", conf}, os.WriteFile(conf, []byte(cfg), 0o600)
	})
	if err != nil {
		return nil, err
	}
	d := &influxd{c}
	if _, err := d.influxQL("CREATE DATABASE citywatch"); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *influxd) influxQL(q string) (string, error) {
	resp, err := http.PostForm(d.url+"/query", url.Values{"q": {q}, "db": {"citywatch"}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), `"error"`) {
		return "", fmt.Errorf("influxql %q: %s: %s", q, resp.Status, b)
	}
	return string(b), nil
}

type influxResult struct {
	queueResult
	direct float64 // samples/s
}

// influxBench measures, against a real influxd: samples/s through store/influx (Append to the disk queue,
// sender to InfluxDB) vs the same batches written directly with the client's blocking API; the drain rate
// of a backlog of 5,000 samples/s × outage; and queue bytes per sample.
func influxBench(samples int, outage time.Duration) (influxResult, error) {
	var res influxResult
	d, err := startInfluxd()
	if err != nil {
		return res, err
	}
	defer d.stop()
	const batch = 5000
	batches := samples / batch
	t0 := time.Now().Add(-time.Hour).UnixMilli()

	// Baseline: the client's blocking write API with the same line protocol and batch size.
	client := influxdb2.NewClientWithOptions(d.url, "", influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetHTTPRequestTimeout(30))
	defer client.Close()
	wapi := client.WriteAPIBlocking("citywatch", influxBucket)
	// Warm-up: the first write into a time range creates its shard; neither side should pay for that.
	if err := wapi.WriteRecord(context.Background(), fmt.Sprintf("bench_warmup,edge=bench value=1 %d", t0)); err != nil {
		return res, fmt.Errorf("warm-up write: %w", err)
	}
	// The baseline's line protocol is built before the clock starts: it measures the writes alone.
	all := make([][]string, batches)
	for k := range all {
		for _, s := range benchSamples("bench_direct", k, batch, t0) {
			all[k] = append(all[k], fmt.Sprintf("%s,device=%s,district=%s,edge=bench value=%g %d", s.Name, s.Labels[0].Value, s.Labels[1].Value, s.V, s.T))
		}
	}
	start := time.Now()
	for _, lines := range all {
		if err := wapi.WriteRecord(context.Background(), lines...); err != nil {
			return res, fmt.Errorf("direct write: %w", err)
		}
	}
	res.direct = float64(batches*batch) / time.Since(start).Seconds()

	newWriter := func(dir string) (queueWriter, error) {
		// What users run: storage.influx's defaults (batch 5,000, flush 1 s, gzip on).
		def := config.Default().Storage.Influx
		w, err := influx.New(influx.Config{URL: d.url, Bucket: influxBucket, Gzip: def.Gzip, Timeout: def.Timeout.Std(),
			Precision: def.Precision, Settings: forward.Settings{Edge: "bench", QueueDir: dir, BatchSize: def.BatchSize,
				FlushInterval: def.FlushInterval.Std()}},
			influx.Deps{Logger: quiet})
		return openQueueWriter(w, err, func(st influx.Status) (int64, int64, forward.State, string) {
			return st.Sent, st.QueueSamples, st.State, st.LastError
		})
	}
	res.queueResult, err = measureQueue("influx writer", "bench_", newWriter, batch, batches, outage, t0)
	return res, err
}
