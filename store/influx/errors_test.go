package influx

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
	"citywatch/store"
	"citywatch/store/forward"
)

const secretToken = "s3cr3t-t0ken-value"

// fakeInflux is a scripted InfluxDB write endpoint. respond decides each response from the request's lines;
// accepted lines are recorded.
type fakeInflux struct {
	t       *testing.T
	respond func(n int, lines []string, w http.ResponseWriter) bool // true: handled (not accepted)

	mu       sync.Mutex
	requests []time.Time
	accepted []string
}

func (f *fakeInflux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/write" {
		http.NotFound(w, r)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Token "+secretToken {
		f.t.Errorf("Authorization header %q", got)
	}
	// A body that cannot be read in full is a client that gave up (the writer cancels its in-flight retry
	// when it closes, possibly after the test body returned): not a server's business and not a test failure.
	// What the test checks is what was accepted, and a request cut short is never accepted.
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	f.mu.Lock()
	f.requests = append(f.requests, time.Now())
	n := len(f.requests)
	f.mu.Unlock()
	if f.respond != nil && f.respond(n, lines, w) {
		return
	}
	f.mu.Lock()
	f.accepted = append(f.accepted, lines...)
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeInflux) acceptedLines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.accepted...)
}

func (f *fakeInflux) requestTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.requests...)
}

func fakeWriter(t *testing.T, f *fakeInflux, mod func(*Config)) (*Writer, *prometheus.Registry, *testenv.Buffer) {
	t.Helper()
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL, "citywatch/autogen", t.TempDir())
	cfg.Token = secretToken
	cfg.Gzip = true
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	logs := &testenv.Buffer{}
	w, err := New(cfg, Deps{Registerer: reg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(func() {
		require.NoError(t, w.Close())
		require.NotContains(t, logs.String(), secretToken)
	})
	return w, reg, logs
}

func TestUnauthorizedKeepsDataAndRecovers(t *testing.T) {
	t.Parallel()
	var allow atomic.Bool
	f := &fakeInflux{respond: func(_ int, _ []string, w http.ResponseWriter) bool {
		if allow.Load() {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":"unauthorized","message":"unauthorized access"}`)
		return true
	}}
	w, reg, _ := fakeWriter(t, f, nil)
	require.NoError(t, w.Append(context.Background(), seq("m", 0, 20, 1700000000000)))

	require.Eventually(t, func() bool {
		return w.Status().State == StateUnauthorized && testutil.ToFloat64(w.m.Retries.WithLabelValues("unauthorized")) >= 2
	}, eventually, poll)
	st := w.Status()
	require.False(t, st.Up)
	require.Equal(t, 0.0, testenv.MetricSum(t, reg, "citywatch_influx_up"))
	require.Contains(t, st.LastError, "401")
	require.NotContains(t, st.LastError, secretToken)
	require.EqualValues(t, 20, st.QueueSamples, "data is kept while unauthorized")

	allow.Store(true)
	require.Eventually(t, func() bool { return len(f.acceptedLines()) == 20 }, eventually, poll)
	require.Eventually(t, func() bool { return w.Status().State == StateOK }, eventually, poll)
	require.Equal(t, 1.0, testenv.MetricSum(t, reg, "citywatch_influx_up"))
	waitDrained(t, w, reg)
}

func TestForbiddenIsUnauthorizedState(t *testing.T) {
	t.Parallel()
	f := &fakeInflux{respond: func(_ int, _ []string, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusForbidden)
		return true
	}}
	w, _, _ := fakeWriter(t, f, nil)
	require.NoError(t, w.Append(context.Background(), seq("m", 0, 1, 1)))
	require.Eventually(t, func() bool { return w.Status().State == StateUnauthorized }, eventually, poll)
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	f := &fakeInflux{respond: func(n int, _ []string, w http.ResponseWriter) bool {
		if n > 1 {
			return false
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}}
	w, _, _ := fakeWriter(t, f, nil) // RetryMax is 200ms: only Retry-After can make the pause 1s
	require.NoError(t, w.Append(context.Background(), seq("m", 0, 5, 1)))
	require.Eventually(t, func() bool { return len(f.acceptedLines()) == 5 }, eventually, poll)
	times := f.requestTimes()
	require.Len(t, times, 2)
	require.GreaterOrEqual(t, times[1].Sub(times[0]), 900*time.Millisecond, "second attempt must wait for Retry-After")
	require.Equal(t, 1.0, testutil.ToFloat64(w.m.Retries.WithLabelValues("throttled")))
}

func TestServerErrorsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	f := &fakeInflux{respond: func(n int, _ []string, w http.ResponseWriter) bool {
		if n > 3 {
			return false
		}
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}}
	w, reg, _ := fakeWriter(t, f, nil)
	require.NoError(t, w.Append(context.Background(), seq("m", 0, 7, 1)))
	require.Eventually(t, func() bool { return len(f.acceptedLines()) == 7 }, eventually, poll)
	require.Equal(t, 3.0, testutil.ToFloat64(w.m.Retries.WithLabelValues("server")))
	waitDrained(t, w, reg)
	require.Len(t, f.acceptedLines(), 7, "each sample written exactly once")
}

func TestNetworkErrorIsUnreachable(t *testing.T) {
	t.Parallel()
	cfg := testConfig("http://"+testenv.FreePort(t), "b", t.TempDir())
	w, err := New(cfg, Deps{})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	defer w.Close()
	require.NoError(t, w.Append(context.Background(), seq("m", 0, 1, 1)))
	require.Eventually(t, func() bool {
		return w.Status().State == StateUnreachable && testutil.ToFloat64(w.m.Retries.WithLabelValues("network")) >= 2
	}, eventually, poll)
	require.EqualValues(t, 1, w.Status().QueueSamples)
}

func TestUnnamedBadLineFoundByBisection(t *testing.T) {
	t.Parallel()
	f := &fakeInflux{respond: func(_ int, lines []string, w http.ResponseWriter) bool {
		for _, l := range lines {
			if strings.HasPrefix(l, "old,") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnprocessableEntity)
				_, _ = io.WriteString(w, `{"code":"unprocessable entity","message":"points beyond retention policy dropped=1"}`)
				return true
			}
		}
		return false
	}}
	w, reg, _ := fakeWriter(t, f, nil)
	batch := seq("m", 0, 100, 1)
	batch[37] = store.Sample{Name: "old", T: 5, V: 1}
	require.NoError(t, w.Append(context.Background(), batch))
	require.Eventually(t, func() bool { return w.Status().DeadLettered == 1 }, eventually, poll)
	waitDrained(t, w, reg)
	require.Len(t, f.acceptedLines(), 99)
	require.LessOrEqual(t, len(f.requestTimes()), 2*8+1, "bisection needs O(log n) requests")
}

func TestTooLargeSplits(t *testing.T) {
	t.Parallel()
	f := &fakeInflux{respond: func(_ int, lines []string, w http.ResponseWriter) bool {
		if len(lines) > 10 {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return true
		}
		return false
	}}
	w, reg, _ := fakeWriter(t, f, nil)
	require.NoError(t, w.Append(context.Background(), seq("m", 0, 100, 1)))
	waitDrained(t, w, reg)
	require.Len(t, f.acceptedLines(), 100)
	require.Zero(t, w.Status().DeadLettered)
}

func TestAppendRejectsNonFiniteButQueuesTheRest(t *testing.T) {
	t.Parallel()
	f := &fakeInflux{}
	w, reg, _ := fakeWriter(t, f, nil)
	batch := seq("m", 0, 3, 1)
	batch[1].V = nan()
	err := w.Append(context.Background(), batch)
	var rej *store.RejectedError
	require.True(t, errors.As(err, &rej), "%v", err)
	require.Equal(t, 1, rej.Count)
	require.Equal(t, reasonNonFinite, rej.Reason)
	waitDrained(t, w, reg)
	require.Len(t, f.acceptedLines(), 2)
	require.Equal(t, 1.0, testutil.ToFloat64(w.m.rejected.WithLabelValues(reasonNonFinite)))
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	cfg := testConfig("http://127.0.0.1:1", "b", t.TempDir())
	w, err := New(cfg, Deps{})
	require.NoError(t, err)
	require.NoError(t, w.Append(context.Background(), seq("m", 0, 1, 1)), "Append before Start queues")
	require.NoError(t, w.Start())
	require.Error(t, w.Start())
	require.NoError(t, w.Close())
	require.NoError(t, w.Close())
	require.Error(t, w.Append(context.Background(), seq("m", 0, 1, 1)))
	require.Equal(t, StateClosed, w.Status().State)

	// The queue was kept: a new writer sees the sample.
	w, err = New(cfg, Deps{})
	require.NoError(t, err)
	require.EqualValues(t, 1, w.Status().QueueSamples)
	require.NoError(t, w.Close())
}

var badConfigCases = []struct {
	name string
	mod  func(*Config)
	want string
}{
	{"no url", func(c *Config) { c.URL = "" }, "url is required"},
	{"bad url", func(c *Config) { c.URL = "ftp://x" }, "http(s) URL"},
	{"credentials in url", func(c *Config) { c.URL = "http://u:p@h:8086" }, "must not contain credentials"},
	{"no bucket", func(c *Config) { c.Bucket = "" }, "bucket is required"},
	{"no queue dir", func(c *Config) { c.QueueDir = "" }, "queue_dir is required"},
	{"precision", func(c *Config) { c.Precision = "m" }, "precision"},
	{"policy", func(c *Config) { c.QueueFullPolicy = "drop_newest" }, "queue_full_policy"},
	{"batch size", func(c *Config) { c.BatchSize = -1 }, "batch_size"},
	{"replay rate", func(c *Config) { c.ReplayRate = -1 }, "replay_rate"},
	{"retry", func(c *Config) { c.RetryMax = time.Millisecond }, "retry_initial"},
	{"empty tag", func(c *Config) { c.Tags = map[string]string{"x": ""} }, "must not be empty"},
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	for _, c := range badConfigCases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1", "b", t.TempDir())
			c.mod(&cfg)
			_, err := New(cfg, Deps{})
			require.ErrorContains(t, err, c.want)
		})
	}
}

var retryAfterCases = []struct {
	name   string
	header string
	secs   uint
	want   time.Duration
	ok     bool
}{
	{"client parsed seconds", "", 3, 3 * time.Second, true},
	{"seconds header", "7", 0, 7 * time.Second, true},
	{"http date", "Fri, 27 Nov 2026 04:00:30 GMT", 0, 30 * time.Second, true},
	{"date in the past", "Fri, 27 Nov 2026 03:00:00 GMT", 0, 0, true},
	{"capped", "999999", 0, forward.MaxRetryAfter, true},
	{"header overflowing a Duration is capped, not negative", "9227000000", 0, forward.MaxRetryAfter, true},
	{"client seconds overflowing a Duration are capped", "", 9227000000, forward.MaxRetryAfter, true},
	{"client seconds beyond int64 are capped", "", ^uint(0), forward.MaxRetryAfter, true},
	{"garbage", "soon", 0, 0, false},
	{"absent", "", 0, 0, false},
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	for _, c := range retryAfterCases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.header != "" {
				h.Set("Retry-After", c.header)
			}
			got, ok := retryAfter(&ihttp.Error{StatusCode: 429, RetryAfter: c.secs, Header: h}, now)
			require.Equal(t, c.ok, ok)
			require.Equal(t, c.want, got)
		})
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

func TestReplayInOrderAtConfiguredRate(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	f := &fakeInflux{respond: func(_ int, _ []string, w http.ResponseWriter) bool {
		if up.Load() {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}}
	w, reg, _ := fakeWriter(t, f, func(c *Config) {
		c.BatchSize = 100
		c.ReplayRate = 2000
	})
	const total = 1000
	for n := 0; n < total; n += 50 {
		require.NoError(t, w.Append(context.Background(), seq("m", n, 50, 1700000000000)))
	}
	require.Eventually(t, func() bool { return w.Status().State == StateUnreachable }, eventually, poll)
	failed := len(f.requestTimes())
	up.Store(true)
	waitDrained(t, w, reg)

	lines := f.acceptedLines()
	require.Len(t, lines, total)
	for i, l := range lines {
		require.True(t, strings.HasSuffix(l, " "+strconv.FormatInt(1700000000000+int64(i), 10)), "line %d out of order: %s", i, l)
	}
	// 10 batches of 100 at 2,000 samples/s: after the first (retried) batch they are paced 50ms apart.
	times := f.requestTimes()[failed:]
	require.Len(t, times, 10)
	require.GreaterOrEqual(t, times[9].Sub(times[0]), 350*time.Millisecond)
}
