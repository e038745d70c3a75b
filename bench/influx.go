package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"citywatch/config"
	"citywatch/internal/testenv"
	"citywatch/store"
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
	direct float64 // samples/s, median of the rounds
	// queueRounds and directRounds are each round's samples/s, in the order they ran.
	queueRounds, directRounds []float64
	// queueCPU and directCPU are each round's CPU per sample, this process and influxd.
	queueCPU, directCPU []influxCPU
}

// influxCPU is the CPU one round took per sample: in this process (the writer under measurement) and in
// influxd. On a loaded machine it varies far less than the rates, which measure a share of the cores.
type influxCPU struct{ self, server time.Duration }

func (c influxCPU) total() time.Duration { return c.self + c.server }

// measureCPU runs f and returns its CPU per sample over n samples.
func measureCPU(n int, f func() (float64, error)) (float64, influxCPU, error) {
	self0, child0 := cpuTime(), childCPU()
	v, err := f()
	self, child := cpuTime()-self0, childCPU().since(child0)
	return v, influxCPU{self / time.Duration(n), child / time.Duration(n)}, err
}

// medianCPU is the round with the median total.
func medianCPU(cs []influxCPU) influxCPU {
	if len(cs) == 0 {
		return influxCPU{}
	}
	s := append([]influxCPU(nil), cs...)
	sort.Slice(s, func(i, j int) bool { return s[i].total() < s[j].total() })
	return s[len(s)/2]
}

// influxRounds is how many times each contender of the throughput row runs; the figure is the median.
const influxRounds = 3

// influxBench measures, against a real influxd: samples/s through store/influx (Append to the disk queue,
// sender to InfluxDB) vs the same batches written directly with the client's blocking API, in alternating
// rounds; the drain rate of a backlog of 5,000 samples/s × outage; and queue bytes per sample.
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

	// Baseline: the client's blocking write API with the same line protocol and batch size. Its default
	// options: no gzip, so it sends the line protocol uncompressed while store/influx compresses.
	client := influxdb2.NewClientWithOptions(d.url, "", influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetHTTPRequestTimeout(30))
	defer client.Close()
	wapi := client.WriteAPIBlocking("citywatch", influxBucket)
	// Warm-up: the first write into a time range creates its shard; neither side should pay for that.
	if err := wapi.WriteRecord(context.Background(), fmt.Sprintf("bench_warmup,edge=bench value=1 %d", t0)); err != nil {
		return res, fmt.Errorf("warm-up write: %w", err)
	}
	direct := func(round int) (float64, error) {
		// The baseline's line protocol is built before the clock starts: it measures the writes alone.
		all := make([][]string, batches)
		for k := range all {
			for _, s := range benchSamples(fmt.Sprintf("bench_direct_r%d", round), k, batch, t0) {
				all[k] = append(all[k], fmt.Sprintf("%s,device=%s,district=%s,edge=bench value=%g %d", s.Name, s.Labels[0].Value, s.Labels[1].Value, s.V, s.T))
			}
		}
		start := time.Now()
		for _, lines := range all {
			if err := wapi.WriteRecord(context.Background(), lines...); err != nil {
				return 0, fmt.Errorf("direct write: %w", err)
			}
		}
		return float64(batches*batch) / time.Since(start).Seconds(), nil
	}

	qdir, err := os.MkdirTemp("", "citywatch-bench-influx-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(qdir)
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
	queue := func(round int) (float64, error) {
		// The samples, like the baseline's line protocol, exist before the clock starts: encoding them is
		// store/influx's work, making them is not.
		sets := make([][]store.Sample, batches)
		for k := range sets {
			sets[k] = benchSamples(fmt.Sprintf("bench_queue_r%d", round), k, batch, t0)
		}
		w, err := newWriter(filepath.Join(qdir, fmt.Sprintf("live-%d", round)))
		if err != nil {
			return 0, err
		}
		defer w.close()
		start := time.Now()
		if err := w.start(); err != nil {
			return 0, err
		}
		for _, set := range sets {
			if err := w.Append(context.Background(), set); err != nil {
				return 0, err
			}
		}
		if err := waitSent("influx writer", w, int64(batches*batch)); err != nil {
			return 0, err
		}
		return float64(batches*batch) / time.Since(start).Seconds(), nil
	}
	// Rounds alternate which contender goes first, so that neither always meets the other's leftovers
	// (influxd compacting, the page cache) or a load that grows or fades through the run.
	for r := 0; r < influxRounds; r++ {
		order := []bool{r%2 == 0, r%2 != 0} // true: baseline
		for _, baseline := range order {
			if baseline {
				v, c, err := measureCPU(batches*batch, func() (float64, error) { return direct(r) })
				if err != nil {
					return res, err
				}
				res.directRounds, res.directCPU = append(res.directRounds, v), append(res.directCPU, c)
				continue
			}
			v, c, err := measureCPU(batches*batch, func() (float64, error) { return queue(r) })
			if err != nil {
				return res, err
			}
			res.queueRounds, res.queueCPU = append(res.queueRounds, v), append(res.queueCPU, c)
		}
	}
	// The drain and the bytes per sample; its own throughput run is one batch, the rounds above measure that.
	res.queueResult, err = measureQueue("influx writer", "bench_", newWriter, batch, 1, outage, t0)
	res.queued, res.direct = median(res.queueRounds), median(res.directRounds)
	return res, err
}

// influxRoundsText is "a / b / c" of rates, in the order they ran.
func influxRoundsText(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strings.Join(parts, " / ")
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
