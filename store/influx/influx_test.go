package influx

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
	"citywatch/store"
	"citywatch/store/forward"
)

const (
	eventually = 60 * time.Second
	poll       = 20 * time.Millisecond
)

// testConfig is a Config for tests: short intervals, identity edge-1/site-a.
func testConfig(url, bucket, dir string) Config {
	return Config{
		URL:     url,
		Bucket:  bucket,
		Timeout: 5 * time.Second,
		Site:    "site-a",
		Settings: forward.Settings{
			QueueDir:      dir,
			FlushInterval: 50 * time.Millisecond,
			RetryInitial:  20 * time.Millisecond,
			RetryMax:      200 * time.Millisecond,
			Edge:          "edge-1",
		},
	}
}

func startWriter(t *testing.T, cfg Config, reg prometheus.Registerer) *Writer {
	t.Helper()
	w, err := New(cfg, Deps{Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(func() { require.NoError(t, w.Close()) })
	return w
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// seq returns n samples of measurement name numbered from "from": unique timestamps, ten series.
func seq(name string, from, n int, base int64) []store.Sample {
	out := make([]store.Sample, n)
	for i := range out {
		k := from + i
		out[i] = store.Sample{
			Name:   name,
			Labels: []store.Label{{Name: "device", Value: "d" + strconv.Itoa(k%10)}},
			T:      base + int64(k),
			V:      float64(k),
		}
	}
	return out
}

func count(t *testing.T, s *testenv.InfluxServer, measurement string) int64 {
	t.Helper()
	n, err := s.Count(measurement, "")
	require.NoError(t, err)
	return n
}

func waitDrained(t *testing.T, w *Writer, reg *prometheus.Registry) {
	t.Helper()
	require.Eventually(t, func() bool {
		st := w.Status()
		return st.QueueSamples == 0 && st.QueueBytes == 0 && st.OldestAge == 0
	}, eventually, poll)
	for _, name := range []string{"citywatch_influx_queue_samples", "citywatch_influx_queue_bytes", "citywatch_influx_queue_oldest_age_seconds"} {
		require.Zero(t, testenv.MetricSum(t, reg, name), name)
	}
}

func TestWritesArriveWithTagsAndTypes(t *testing.T) {
	t.Parallel()
	influx := testenv.Influxd(t, testenv.WithFlux())
	reg := prometheus.NewRegistry()
	cfg := testConfig(influx.URL, influx.Bucket, t.TempDir())
	cfg.Gzip = true
	w := startWriter(t, cfg, reg)

	ts := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	samples := []store.Sample{
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "sensor 42,x=y"}, {Name: "district", Value: "d1"}, {Name: "site", Value: "siteA"}}, T: ts.UnixMilli(), V: 21.5},
		{Name: "humidity", Labels: []store.Label{{Name: "device", Value: "s2"}}, T: ts.UnixMilli() + 1000, V: 40},
	}
	require.NoError(t, w.Append(context.Background(), samples))
	require.Eventually(t, func() bool { return w.Status().Sent == 2 }, eventually, poll)
	require.Equal(t, StateOK, w.Status().State)
	require.Equal(t, 1.0, testutil.ToFloat64(w.m.Up))

	rows, err := influx.Flux(`from(bucket: "` + influx.Bucket + `") |> range(start: -30d) |> filter(fn: (r) => r._measurement == "temperature")`)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	r := rows[0]
	require.Equal(t, "21.5", r["_value"])
	require.Equal(t, "value", r["_field"])
	require.Equal(t, "sensor 42,x=y", r["device"])
	require.Equal(t, "d1", r["district"])
	require.Equal(t, "edge-1", r["edge"])
	require.Equal(t, "site-a", r["site"], "the configured site identity wins")
	require.Equal(t, "siteA", r["exported_site"], "the sample's own site is kept")
	gotTime, err := time.Parse(time.RFC3339Nano, r["_time"])
	require.NoError(t, err)
	require.True(t, ts.Equal(gotTime), "time %s, want %s", gotTime, ts)

	rows, err = influx.Flux(`from(bucket: "` + influx.Bucket + `") |> range(start: -30d) |> filter(fn: (r) => r._measurement == "humidity")`)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "40", rows[0]["_value"])
	require.Equal(t, "site-a", rows[0]["site"])

	// Field types: "value" is a float in both measurements (40 must not become an integer).
	body, err := influx.InfluxQL(`SHOW FIELD KEYS FROM "humidity"`)
	require.NoError(t, err)
	require.Contains(t, string(body), `["value","float"]`)
	waitDrained(t, w, reg)
}

// produce appends perTick samples every 10ms (5,000/s with perTick 50) until stop is closed and returns the
// number appended.
func produce(t *testing.T, w *Writer, name string, perTick int, base int64, stop <-chan struct{}, total *atomic.Int64) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		n := int(total.Load())
		if err := w.Append(context.Background(), seq(name, n, perTick, base)); err != nil {
			t.Errorf("append: %v", err)
			return
		}
		total.Add(int64(perTick))
	}
}

func TestInfluxDownWhileStreamingLosesNothing(t *testing.T) {
	t.Parallel()
	influx := testenv.Influxd(t)
	reg := prometheus.NewRegistry()
	w := startWriter(t, testConfig(influx.URL, influx.Bucket, t.TempDir()), reg)

	base := time.Now().Add(-2 * time.Hour).UnixMilli()
	var total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		produce(t, w, "flow", 50, base, stop, &total)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	require.Eventually(t, func() bool { return w.Status().Sent >= 5000 }, eventually, poll)
	influx.Kill()
	require.Eventually(t, func() bool {
		st := w.Status()
		return st.State == StateUnreachable && st.QueueSamples >= 10000
	}, eventually, poll)
	require.Equal(t, 0.0, testutil.ToFloat64(w.m.Up))
	require.Positive(t, testenv.MetricSum(t, reg, "citywatch_influx_queue_oldest_age_seconds"))
	influx.Start()
	sentAtRestart := w.Status().Sent
	require.Eventually(t, func() bool { return w.Status().Sent >= sentAtRestart+10000 }, eventually, poll)
	close(stop)
	wg.Wait()

	want := total.Load()
	require.Eventually(t, func() bool { return count(t, influx, "flow") == want }, eventually, 100*time.Millisecond)
	waitDrained(t, w, reg)
	require.Zero(t, testenv.MetricSum(t, reg, "citywatch_influx_dropped_samples_total"))
	require.Zero(t, testenv.MetricSum(t, reg, "citywatch_influx_dead_lettered_samples_total"))
	require.Positive(t, testenv.MetricSum(t, reg, "citywatch_influx_retries_total"))
	require.Equal(t, StateOK, w.Status().State)
	t.Logf("samples: %d, sent (with replays): %d", want, w.Status().Sent)
}

const childEnv = "CITYWATCH_INFLUX_KILL_CHILD"

// TestKilledWriterChild is the child process of TestWriterSIGKILLedLosesNothing: it appends batches of 100
// samples forever and prints the total after each Append returns.
func TestKilledWriterChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("child process of TestWriterSIGKILLedLosesNothing")
	}
	cfg := testConfig(os.Getenv("INFLUX_URL"), os.Getenv("INFLUX_BUCKET"), os.Getenv("QUEUE_DIR"))
	w, err := New(cfg, Deps{})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	base, err := strconv.ParseInt(os.Getenv("BASE_MS"), 10, 64)
	require.NoError(t, err)
	for n := 0; ; n += 100 {
		require.NoError(t, w.Append(context.Background(), seq("killed", n, 100, base)))
		fmt.Printf("appended %d\n", n+100)
		time.Sleep(10 * time.Millisecond) // pace the load at about 10,000 samples/s
	}
}

func TestWriterSIGKILLedLosesNothing(t *testing.T) {
	t.Parallel()
	influx := testenv.Influxd(t)
	dir := t.TempDir()
	base := time.Now().Add(-3 * time.Hour).UnixMilli()

	// Phase 1: the child writes while InfluxDB is up, then while it is down, and is killed with a backlog.
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", "INFLUX_URL="+influx.URL, "INFLUX_BUCKET="+influx.Bucket,
		"QUEUE_DIR="+dir, "BASE_MS="+strconv.FormatInt(base, 10))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	var reported atomic.Int64
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "appended "); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Errorf("child output %q: %v", sc.Text(), err)
				}
				reported.Store(n)
			}
		}
	}()
	childAlive := func() bool {
		select {
		case <-eof:
			t.Errorf("child exited early; stderr:\n%s", stderr.String())
			return true
		default:
			return false
		}
	}
	require.Eventually(t, func() bool { return childAlive() || count(t, influx, "killed") >= 5000 }, eventually, poll)
	influx.Stop()
	atStop := reported.Load()
	require.Eventually(t, func() bool { return childAlive() || reported.Load() >= atStop+20000 }, eventually, poll)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	// Read what the child printed before it died: every number printed was an Append that had returned.
	<-eof
	_ = cmd.Wait()
	killed = true
	require.False(t, t.Failed())
	t.Logf("child reported %d samples appended before SIGKILL", reported.Load())

	// Phase 2: restart InfluxDB and the writer on the same queue directory.
	influx.Start()
	before := count(t, influx, "killed")
	require.Less(t, before, reported.Load(), "the child must have been killed with a backlog")
	reg := prometheus.NewRegistry()
	w := startWriter(t, testConfig(influx.URL, influx.Bucket, dir), reg)
	require.Eventually(t, func() bool { return count(t, influx, "killed") >= reported.Load() }, eventually, 100*time.Millisecond)
	waitDrained(t, w, reg)
	got := count(t, influx, "killed")
	// Every acknowledged Append is there; at most the Append in progress at the kill is extra, whole or not at
	// all (a record is all or nothing).
	require.LessOrEqual(t, got, reported.Load()+100)
	require.Zero(t, got%100, "a torn record must be dropped whole, got %d", got)
	t.Logf("present after restart: %d (before restart: %d)", got, before)
	require.Zero(t, w.Status().Dropped)
}

func TestRefusedLineGoesToDeadLetterRestIsWritten(t *testing.T) {
	t.Parallel()
	influx := testenv.Influxd(t)
	ts := time.Now().Add(-time.Hour).UnixMilli()
	// Another writer made "value" a string in measurement "conflict".
	resp, err := http.Post(influx.URL+"/write?db="+testenv.InfluxDatabase+"&precision=ms", "text/plain",
		strings.NewReader(fmt.Sprintf(`conflict,origin=other value="text" %d`, ts)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	w := startWriter(t, testConfig(influx.URL, influx.Bucket, dir), reg)
	batch := seq("good", 0, 10, ts)
	batch = append(batch[:5], append([]store.Sample{{Name: "conflict", Labels: []store.Label{{Name: "device", Value: "bad"}}, T: ts, V: 1.5}}, batch[5:]...)...)
	require.NoError(t, w.Append(context.Background(), batch))

	require.Eventually(t, func() bool { return w.Status().DeadLettered == 1 }, eventually, poll)
	require.Eventually(t, func() bool { return count(t, influx, "good") == 10 }, eventually, poll)
	waitDrained(t, w, reg)
	require.Equal(t, 1.0, testenv.MetricSum(t, reg, "citywatch_influx_dead_lettered_samples_total"))
	require.Equal(t, StateOK, w.Status().State)

	dl, err := os.ReadFile(filepath.Join(dir, DeadLetterFile))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(dl)), "\n")
	require.Len(t, lines, 2, "%s", dl)
	require.Contains(t, lines[0], "# ")
	require.Contains(t, lines[0], " 400 ")
	require.Contains(t, lines[0], "field type conflict")
	require.Equal(t, fmt.Sprintf("conflict,device=bad,edge=edge-1,site=site-a value=1.5 %d", ts), lines[1])
}

func TestDropOldestDroppedCountEqualsMissing(t *testing.T) {
	t.Parallel()
	influx := testenv.Influxd(t)
	influx.Stop()
	reg := prometheus.NewRegistry()
	cfg := testConfig(influx.URL, influx.Bucket, t.TempDir())
	cfg.QueueMaxBytes = 64 << 10
	cfg.QueueSegmentBytes = 8 << 10
	cfg.BatchSize = 50
	w := startWriter(t, cfg, reg)

	base := time.Now().Add(-time.Hour).UnixMilli()
	const total = 5000
	for n := 0; n < total; n += 10 {
		require.NoError(t, w.Append(context.Background(), seq("dropme", n, 10, base)))
	}
	dropped := int64(testenv.MetricSum(t, reg, "citywatch_influx_dropped_samples_total"))
	require.Positive(t, dropped)
	require.LessOrEqual(t, testenv.MetricSum(t, reg, "citywatch_influx_queue_disk_bytes"), float64(cfg.QueueMaxBytes))

	influx.Start()
	waitDrained(t, w, reg)
	got := count(t, influx, "dropme")
	require.Equal(t, int64(total), got+dropped, "present %d + dropped %d", got, dropped)
	require.Equal(t, dropped, w.Status().Dropped)
	t.Logf("dropped %d of %d", dropped, total)
}
