package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"citywatch/internal/testenv"
	"citywatch/store"
	"citywatch/store/influx"
)

// influxd is an influxd 1.8 child process on free loopback ports, configured like internal/testenv's (which
// needs a testing.TB; the configuration is testenv.InfluxdConfig), with database "citywatch" created.
type influxd struct {
	url string
	dir string
	cmd *exec.Cmd
}

const influxBucket = "citywatch/autogen"

func influxBinary() (string, error) {
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "citywatch", "bin", "influxd")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("influxd not found (scripts/install-test-deps.sh builds it into %s): %w", p, err)
	}
	return p, nil
}

func startInfluxd() (*influxd, error) {
	bin, err := influxBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "citywatch-bench-influxd-")
	if err != nil {
		return nil, err
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort())
	conf := testenv.InfluxdConfig(dir, "127.0.0.1:"+strconv.Itoa(freePort()), httpAddr)
	confPath := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "influxd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "-config", confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &influxd{url: "http://" + httpAddr, dir: dir, cmd: cmd}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(d.url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				break
			}
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("influxd not ready after 60s (log in %s)", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := d.influxQL("CREATE DATABASE citywatch"); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *influxd) stop() {
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
	os.RemoveAll(d.dir)
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

// influxSamples makes batch k of the benchmark: 5,000 samples over 1,000 devices, distinct timestamps.
func influxSamples(name string, k, size int, t0 int64) []store.Sample {
	out := make([]store.Sample, size)
	for i := range out {
		j := k*size + i
		out[i] = store.Sample{Name: name, Labels: []store.Label{{Name: "device", Value: "dev" + strconv.Itoa(j%1000)},
			{Name: "district", Value: "d" + strconv.Itoa(j%10)}},
			T: t0 + int64(j/1000), V: 20 + float64(j%100)/10}
	}
	return out
}

type influxResult struct {
	queued, direct      float64 // samples/s
	drain               float64 // samples/s
	backlog             int
	outage              time.Duration
	bytesPerSample      float64
	drainSeconds, ratio float64
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
		for _, s := range influxSamples("bench_direct", k, batch, t0) {
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

	// citywatch: Append into the queue while the sender drains it.
	newWriter := func(dir string) (*influx.Writer, error) {
		return influx.New(influx.Config{URL: d.url, Bucket: influxBucket, Edge: "bench", QueueDir: dir, BatchSize: batch,
			FlushInterval: 100 * time.Millisecond}, influx.Deps{Logger: quiet})
	}
	qdir, err := os.MkdirTemp("", "citywatch-bench-influxq-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(qdir)
	w, err := newWriter(filepath.Join(qdir, "live"))
	if err != nil {
		return res, err
	}
	start = time.Now()
	if err := w.Start(); err != nil {
		return res, err
	}
	for k := 0; k < batches; k++ {
		if err := w.Append(context.Background(), influxSamples("bench_queue", k, batch, t0)); err != nil {
			return res, err
		}
	}
	if err := waitSent(w, int64(batches*batch)); err != nil {
		return res, err
	}
	res.queued = float64(batches*batch) / time.Since(start).Seconds()
	if err := w.Close(); err != nil {
		return res, err
	}

	// Outage: the backlog piles up in the queue while nothing sends, then the sender starts.
	res.outage = outage
	res.backlog = int(outage.Seconds()) * 5000
	w, err = newWriter(filepath.Join(qdir, "outage"))
	if err != nil {
		return res, err
	}
	defer w.Close()
	for k := 0; k < res.backlog/batch; k++ {
		if err := w.Append(context.Background(), influxSamples("bench_backlog", k, batch, t0)); err != nil {
			return res, err
		}
	}
	st := w.Status()
	if st.QueueSamples != int64(res.backlog) {
		return res, fmt.Errorf("queue holds %d samples, want %d", st.QueueSamples, res.backlog)
	}
	du, err := dirBytes(filepath.Join(qdir, "outage"))
	if err != nil {
		return res, err
	}
	res.bytesPerSample = float64(du) / float64(res.backlog)
	start = time.Now()
	if err := w.Start(); err != nil {
		return res, err
	}
	if err := waitSent(w, int64(res.backlog)); err != nil {
		return res, err
	}
	res.drainSeconds = time.Since(start).Seconds()
	res.drain = float64(res.backlog) / res.drainSeconds
	res.ratio = outage.Seconds() / res.drainSeconds
	return res, nil
}

func waitSent(w *influx.Writer, n int64) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st := w.Status()
		if st.Sent >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("influx writer sent %d of %d in 5 minutes (state %s: %s)", st.Sent, n, st.State, st.LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dirBytes is the apparent size of the files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n, err
}
