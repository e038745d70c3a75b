package remotewrite

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"citywatch/store"
	"citywatch/store/forward"
)

func testConfig(t *testing.T, url string) Config {
	return Config{
		Name: "centre", URL: url, Site: "siteE",
		Settings: forward.Settings{Edge: "edge-1",
			BatchSize: 100, FlushInterval: 10 * time.Millisecond,
			RetryInitial: 10 * time.Millisecond, RetryMax: 80 * time.Millisecond,
			QueueDir: t.TempDir(), QueueMaxBytes: 1 << 20, QueueSegmentBytes: 64 << 10},
	}
}

func start(t *testing.T, cfg Config, sl *sleeps, reg prometheus.Registerer) *Writer {
	t.Helper()
	deps := Deps{Registerer: reg}
	if sl != nil {
		deps.Sleep = sl.sleep
	}
	w, err := New(cfg, deps)
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// seq returns n samples of metric name, value i and time base+i seconds, on series device=d<i%devices>.
func seq(name string, n, devices int, base int64) []store.Sample {
	out := make([]store.Sample, n)
	for i := range out {
		out[i] = store.Sample{Name: name, Labels: []store.Label{{Name: "device", Value: fmt.Sprintf("d%d", i%devices)}},
			T: base + int64(i)*1000, V: float64(i)}
	}
	return out
}

func TestBatchesCarryEverySampleWithEdgeLabels(t *testing.T) {
	rv := newReceiver(t, nil)
	w := start(t, testConfig(t, rv.URL), nil, nil)
	ctx := context.Background()
	samples := seq("temperature", 1000, 7, 1_700_000_000_000)
	for i := 0; i < len(samples); i += 37 {
		require.NoError(t, w.Append(ctx, samples[i:min(i+37, len(samples))]))
	}
	// A sample with its own site keeps it: edge labels fill in, like Prometheus' external_labels.
	own := store.Sample{Name: "camera_up", Labels: []store.Label{{Name: "camera", Value: "c1"}, {Name: "site", Value: "siteA"}}, T: 5, V: 1}
	require.NoError(t, w.Append(ctx, []store.Sample{own}))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 1001 }, 10*time.Second, 5*time.Millisecond)

	seen := map[float64]bool{}
	for _, g := range rv.accepted() {
		if strings.HasPrefix(g.Series, "camera_up") {
			require.Equal(t, `camera_up{camera="c1",edge="edge-1",site="siteA"}`, g.Series)
			continue
		}
		require.Equal(t, fmt.Sprintf(`temperature{device="d%d",edge="edge-1",site="siteE"}`, int(g.V)%7), g.Series)
		require.Equal(t, 1_700_000_000_000+int64(g.V)*1000, g.T)
		seen[g.V] = true
	}
	require.Len(t, seen, 1000, "every sample arrives once")
	for _, r := range rv.requests() {
		require.LessOrEqual(t, len(r.Samples), 100, "batch_size bounds a request")
		require.Equal(t, "0.1.0", r.Version, "remote write 1.0 by default")
	}
	require.Less(t, len(rv.requests()), 100, "samples are batched, not sent one request per append")
	require.Eventually(t, func() bool { return w.Status().QueueSamples == 0 }, 5*time.Second, 5*time.Millisecond)
	st := w.Status()
	require.Equal(t, StateOK, st.State)
	require.EqualValues(t, 1001, st.Sent)
}

func TestRemoteWrite2(t *testing.T) {
	rv := newReceiver(t, nil)
	cfg := testConfig(t, rv.URL)
	cfg.ProtobufMessage = MessageV2
	w := start(t, cfg, nil, nil)
	require.NoError(t, w.Append(context.Background(), seq("humidity", 50, 3, 1000)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 50 }, 10*time.Second, 5*time.Millisecond)
	for _, r := range rv.requests() {
		require.Equal(t, "2.0.0", r.Version)
		require.Contains(t, r.Header.Get("Content-Type"), "io.prometheus.write.v2.Request")
	}
	require.Equal(t, `humidity{device="d1",edge="edge-1",site="siteE"}`, rv.accepted()[1].Series)
}

func TestRemoteWrite2FallsBackTo1On415(t *testing.T) {
	rv := newReceiver(t, func(r *request) (int, map[string]string) {
		if r.Version == "2.0.0" {
			return http.StatusUnsupportedMediaType, nil
		}
		return http.StatusNoContent, nil
	})
	cfg := testConfig(t, rv.URL)
	cfg.ProtobufMessage = MessageV2
	w := start(t, cfg, nil, nil)
	require.NoError(t, w.Append(context.Background(), seq("humidity", 20, 3, 1000)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 20 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, MessageV1, w.Status().Protocol)
	require.EqualValues(t, 0, w.Status().DeadLettered)
}

func TestRemoteWrite2FallsBackTo1WithoutWrittenHeaders(t *testing.T) {
	rv := newReceiver(t, nil)
	rv.noV2Stats = true
	cfg := testConfig(t, rv.URL)
	cfg.ProtobufMessage = MessageV2
	w := start(t, cfg, nil, nil)
	require.NoError(t, w.Append(context.Background(), seq("humidity", 20, 3, 1000)))
	require.Eventually(t, func() bool { return w.Status().Sent == 20 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, MessageV1, w.Status().Protocol)
	reqs := rv.requests()
	require.Equal(t, "2.0.0", reqs[0].Version)
	require.Equal(t, "0.1.0", reqs[len(reqs)-1].Version, "the unconfirmed 2.0 batch is sent again as 1.0")
	var v1 int
	for _, r := range reqs {
		if r.Version == "0.1.0" {
			v1 += len(r.Samples)
		}
	}
	require.Equal(t, 20, v1)
}

var classifyCases = []struct {
	status int
	v2     bool
	want   outcome
}{
	{204, false, outcome{act: actDone, state: StateOK}},
	{200, true, outcome{act: actDone, state: StateOK}},
	{0, false, outcome{act: actRetry, state: StateUnreachable, reason: "network"}},
	{429, false, outcome{act: actRetry, state: StateUnreachable, reason: "throttled"}},
	{500, false, outcome{act: actRetry, state: StateUnreachable, reason: "server"}},
	{503, false, outcome{act: actRetry, state: StateUnreachable, reason: "server"}},
	{401, false, outcome{act: actRetry, state: StateUnauthorized, reason: "unauthorized"}},
	{403, false, outcome{act: actRetry, state: StateUnauthorized, reason: "unauthorized"}},
	{404, false, outcome{act: actRetry, state: StateFailing, reason: "other"}},
	{307, false, outcome{act: actRetry, state: StateFailing, reason: "other"}},
	{408, false, outcome{act: actRetry, state: StateUnreachable, reason: "network"}},
	{413, false, outcome{act: actSplit, state: StateOK}},
	{415, true, outcome{act: actDowngrade, state: StateOK}},
	{415, false, outcome{act: actRetry, state: StateFailing, reason: "other"}},
	{400, false, outcome{act: actDeadLetter, state: StateOK}},
	{409, false, outcome{act: actDeadLetter, state: StateOK}},
	{422, true, outcome{act: actDeadLetter, state: StateOK}},
}

func TestClassify(t *testing.T) {
	for _, c := range classifyCases {
		require.Equal(t, c.want, classify(c.status, c.v2), "status %d v2=%v", c.status, c.v2)
	}
}

func TestRetriesHonourRetryAfterAndKeepData(t *testing.T) {
	answers := []int{503, 429, 500, 401}
	rv := newReceiver(t, func(r *request) (int, map[string]string) {
		n := len(answers)
		if n == 0 {
			return http.StatusNoContent, nil
		}
		st := answers[0]
		answers = answers[1:]
		switch st {
		case 503:
			return st, map[string]string{"Retry-After": "7"}
		case 429:
			return st, map[string]string{"Retry-After": "3"}
		}
		return st, nil
	})
	sl := &sleeps{}
	reg := prometheus.NewRegistry()
	w := start(t, testConfig(t, rv.URL), sl, reg)
	require.NoError(t, w.Append(context.Background(), seq("co2", 10, 2, 1000)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 10 }, 10*time.Second, 5*time.Millisecond)
	d := sl.all()
	require.Len(t, d, 4, "one backoff per failed attempt")
	require.Equal(t, 7*time.Second, d[0], "503 Retry-After honoured")
	require.Equal(t, 3*time.Second, d[1], "429 Retry-After honoured")
	require.LessOrEqual(t, d[2], 40*time.Millisecond, "500 without Retry-After: exponential backoff (3rd attempt)")
	require.Greater(t, d[2], time.Duration(0))
	require.Len(t, rv.requests(), 5)
	require.EqualValues(t, 0, w.Status().DeadLettered, "retryable answers never dead-letter")
	for reason, n := range map[string]float64{"server": 2, "throttled": 1, "unauthorized": 1} {
		require.Equal(t, n, testutil.ToFloat64(w.m.Retries.WithLabelValues(reason)), reason)
	}
	// The receiver records the batch before its answer reaches the writer: wait for the writer to see it.
	require.Eventually(t, func() bool { return testutil.ToFloat64(w.m.Up) == 1 }, 10*time.Second, 5*time.Millisecond)
}

func TestBadRequestIsDeadLetteredNotRetried(t *testing.T) {
	// The receiver refuses every request holding a "bad" sample, as Prometheus does (the whole request is
	// rolled back).
	rv := newReceiver(t, func(r *request) (int, map[string]string) {
		for _, s := range r.Samples {
			if strings.HasPrefix(s.Series, "bad") {
				return http.StatusBadRequest, nil
			}
		}
		return http.StatusNoContent, nil
	})
	sl := &sleeps{}
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, rv.URL)
	w := start(t, cfg, sl, reg)
	good := seq("good", 60, 60, 1000)
	batch := append(good[:30:30], store.Sample{Name: "bad", Labels: []store.Label{{Name: "device", Value: `q"x`}}, T: 42, V: 1.5})
	batch = append(batch, good[30:]...)
	require.NoError(t, w.Append(context.Background(), batch))
	require.Eventually(t, func() bool { return w.Status().QueueSamples == 0 }, 10*time.Second, 5*time.Millisecond)
	require.Len(t, rv.accepted(), 60, "the other series of the refused batch are written")
	st := w.Status()
	require.EqualValues(t, 1, st.DeadLettered)
	require.EqualValues(t, 60, st.Sent)
	require.Empty(t, sl.all(), "a 400 is never retried")
	require.LessOrEqual(t, len(rv.requests()), 2*maxSplits, "isolating the refused series is bounded")
	b, err := os.ReadFile(filepath.Join(cfg.QueueDir, DeadLetterFile))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 2)
	require.Regexp(t, `^# \S+ 400 server returned HTTP status 400 Bad Request: refused by test receiver$`, lines[0])
	require.Equal(t, `bad{device="q\"x",edge="edge-1",site="siteE"} 1.5 42`, lines[1])
	require.Equal(t, 1.0, testutil.ToFloat64(w.m.DeadLettered))
}

func TestTooLargeIsSplit(t *testing.T) {
	rv := newReceiver(t, func(r *request) (int, map[string]string) {
		if len(r.Samples) > 10 {
			return http.StatusRequestEntityTooLarge, nil
		}
		return http.StatusNoContent, nil
	})
	w := start(t, testConfig(t, rv.URL), nil, nil)
	require.NoError(t, w.Append(context.Background(), seq("noise", 80, 80, 1000)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 80 }, 10*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 0, w.Status().DeadLettered)
}

var relabelCases = []struct {
	name  string
	rules []RelabelRule
	keep  []string
}{
	{"none", nil, []string{"temperature", "camera_up", "citywatch_x"}},
	{"keep", []RelabelRule{{Action: ActionKeep, Regex: "camera_.*|temperature"}}, []string{"temperature", "camera_up"}},
	{"drop", []RelabelRule{{Action: ActionDrop, Regex: "citywatch_.*"}}, []string{"temperature", "camera_up"}},
	{"anchored", []RelabelRule{{Action: ActionKeep, Regex: "temp"}}, nil},
	{"keep then drop", []RelabelRule{{Action: ActionKeep, Regex: "camera_.*|temperature"}, {Action: ActionDrop, Regex: "camera_up"}}, []string{"temperature"}},
}

func TestWriteRelabel(t *testing.T) {
	for _, c := range relabelCases {
		t.Run(c.name, func(t *testing.T) {
			rv := newReceiver(t, nil)
			cfg := testConfig(t, rv.URL)
			cfg.Relabel = c.rules
			w := start(t, cfg, nil, nil)
			var in []store.Sample
			for i, n := range []string{"temperature", "camera_up", "citywatch_x"} {
				in = append(in, store.Sample{Name: n, T: int64(i), V: 1})
			}
			require.NoError(t, w.Append(context.Background(), in))
			require.Eventually(t, func() bool { return w.Status().QueueSamples == 0 }, 5*time.Second, 5*time.Millisecond)
			var names []string
			for _, g := range rv.accepted() {
				names = append(names, g.Series[:strings.IndexByte(g.Series, '{')])
			}
			require.ElementsMatch(t, c.keep, names)
			require.EqualValues(t, 3-len(c.keep), w.Status().RelabelDropped)
		})
	}
}

func TestInvalidSamplesRejectedOthersQueued(t *testing.T) {
	rv := newReceiver(t, nil)
	w := start(t, testConfig(t, rv.URL), nil, nil)
	err := w.Append(context.Background(), []store.Sample{
		{Name: "ok", T: 1, V: 1},
		{Name: "bad\xff", T: 1, V: 1},
		{Name: "", T: 1, V: 1},
	})
	var rej *store.RejectedError
	require.True(t, errors.As(err, &rej))
	require.Equal(t, 2, rej.Count)
	require.Eventually(t, func() bool { return len(rv.accepted()) == 1 }, 5*time.Second, 5*time.Millisecond)
}

func TestAuthHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"basic", func(c *Config) { c.BasicAuthUser, c.BasicAuthPassword = "edge", "s3cret" }, "Basic ZWRnZTpzM2NyZXQ="},
		{"bearer", func(c *Config) { c.BearerToken = "tok3n" }, "Bearer tok3n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rv := newReceiver(t, nil)
			cfg := testConfig(t, rv.URL)
			c.set(&cfg)
			w := start(t, cfg, nil, nil)
			require.NoError(t, w.Append(context.Background(), seq("x", 1, 1, 1)))
			require.Eventually(t, func() bool { return len(rv.accepted()) == 1 }, 5*time.Second, 5*time.Millisecond)
			require.Equal(t, c.want, rv.requests()[0].Header.Get("Authorization"))
		})
	}
}

func TestRedirectToAnotherOriginNotFollowed(t *testing.T) {
	other := newReceiver(t, nil)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/api/v1/write", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	sl := &sleeps{}
	cfg := testConfig(t, redirector.URL)
	cfg.BearerToken = "tok3n"
	w := start(t, cfg, sl, nil)
	require.NoError(t, w.Append(context.Background(), seq("x", 3, 1, 1)))
	require.Eventually(t, func() bool { return len(sl.all()) >= 3 }, 5*time.Second, 5*time.Millisecond)
	require.Empty(t, other.requests(), "credentials and data never go to another origin")
	st := w.Status()
	require.Equal(t, StateFailing, st.State)
	require.Contains(t, st.LastError, "redirect not followed")
	require.NotContains(t, st.LastError, "tok3n")
	require.EqualValues(t, 3, st.QueueSamples, "data kept")
}

func TestTLSWithCAFile(t *testing.T) {
	rv := &receiver{t: t}
	rv.Server = httptest.NewTLSServer(http.HandlerFunc(rv.serve))
	t.Cleanup(rv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := rv.Certificate()
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	_, err := x509.ParseCertificate(cert.Raw)
	require.NoError(t, err)

	cfg := testConfig(t, rv.URL)
	cfg.TLSCAFile = ca
	w := start(t, cfg, nil, nil)
	require.NoError(t, w.Append(context.Background(), seq("x", 2, 1, 1)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 2 }, 5*time.Second, 5*time.Millisecond)

	// Without the CA the certificate is not trusted: retried, never sent.
	sl := &sleeps{}
	cfg2 := testConfig(t, rv.URL)
	w2 := start(t, cfg2, sl, nil)
	require.NoError(t, w2.Append(context.Background(), seq("y", 1, 1, 1)))
	require.Eventually(t, func() bool { return len(sl.all()) >= 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, StateUnreachable, w2.Status().State)

	cfg3 := testConfig(t, rv.URL)
	cfg3.TLSInsecureSkipVerify = true
	w3 := start(t, cfg3, nil, nil)
	require.NoError(t, w3.Append(context.Background(), seq("z", 1, 1, 1)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 3 }, 5*time.Second, 5*time.Millisecond)
}

func TestQueueSurvivesRestart(t *testing.T) {
	down := true
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	rv := newReceiver(t, func(*request) (int, map[string]string) {
		<-mu
		defer func() { mu <- struct{}{} }()
		if down {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusNoContent, nil
	})
	cfg := testConfig(t, rv.URL)
	sl := &sleeps{}
	w1, err := New(cfg, Deps{Sleep: sl.sleep})
	require.NoError(t, err)
	require.NoError(t, w1.Start())
	require.NoError(t, w1.Append(context.Background(), seq("level", 250, 5, 1000)))
	require.Eventually(t, func() bool { return len(sl.all()) >= 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, w1.Close())
	require.NoError(t, w1.Close(), "Close is idempotent")

	<-mu
	down = false
	mu <- struct{}{}
	w2 := start(t, cfg, nil, nil)
	require.Eventually(t, func() bool { return w2.Status().QueueSamples == 0 }, 10*time.Second, 5*time.Millisecond)
	seen := map[float64]bool{}
	for _, g := range rv.accepted() {
		seen[g.V] = true
	}
	require.Len(t, seen, 250, "every queued sample is sent after the restart")
}

func TestMetricsPerEndpoint(t *testing.T) {
	rv := newReceiver(t, nil)
	reg := prometheus.NewRegistry()
	a := testConfig(t, rv.URL)
	b := testConfig(t, rv.URL)
	b.Name = "backup"
	wa := start(t, a, nil, reg)
	start(t, b, nil, reg)
	require.NoError(t, wa.Append(context.Background(), seq("x", 5, 1, 1)))
	require.Eventually(t, func() bool { return wa.Status().Sent == 5 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP citywatch_remote_write_sent_samples_total Samples the receiver accepted (replays after a lost acknowledgement count again).
# TYPE citywatch_remote_write_sent_samples_total counter
citywatch_remote_write_sent_samples_total{endpoint="backup"} 0
citywatch_remote_write_sent_samples_total{endpoint="centre"} 5
`), "citywatch_remote_write_sent_samples_total"))
}

var configCases = []struct {
	name string
	set  func(*Config)
	err  string
}{
	{"ok", func(*Config) {}, ""},
	{"bad name", func(c *Config) { c.Name = "Centre 1" }, "name must match"},
	{"no url", func(c *Config) { c.URL = "" }, "url is required"},
	{"credentials in url", func(c *Config) { c.URL = "http://u:p@vm:8428/api/v1/write" }, "must not contain credentials"},
	{"ftp", func(c *Config) { c.URL = "ftp://vm/x" }, "http(s) URL"},
	{"message", func(c *Config) { c.ProtobufMessage = "v3" }, "protobuf_message"},
	{"both auths", func(c *Config) { c.BearerToken, c.BasicAuthUser = "t", "u" }, "not both"},
	{"policy", func(c *Config) { c.QueueFullPolicy = "spill" }, "queue_full_policy"},
	{"relabel action", func(c *Config) { c.Relabel = []RelabelRule{{Action: "replace", Regex: "x"}} }, "action"},
	{"relabel regex", func(c *Config) { c.Relabel = []RelabelRule{{Action: "keep", Regex: "("}} }, "regex"},
	{"external label", func(c *Config) { c.ExternalLabels = map[string]string{"1x": "v"} }, "external label"},
}

func TestConfig(t *testing.T) {
	for _, c := range configCases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "http://vm:8428/api/v1/write")
			c.set(&cfg)
			err := cfg.applyDefaults()
			if c.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.err)
		})
	}
}

var mergeCases = []struct {
	name   string
	labels []store.Label
	want   string
}{
	{"plain", []store.Label{{Name: "device", Value: "d1"}}, `m{device="d1",edge="e",site="S"}`},
	{"own site wins", []store.Label{{Name: "site", Value: "own"}}, `m{edge="e",site="own"}`},
	{"upper case sorts before __name__", []store.Label{{Name: "Zone", Value: "z"}, {Name: "a", Value: "1"}}, `m{Zone="z",a="1",edge="e",site="S"}`},
	{"underscore labels", []store.Label{{Name: "_a", Value: "1"}, {Name: "__x", Value: "2"}}, `m{__x="2",_a="1",edge="e",site="S"}`},
	{"unsorted input is sorted", []store.Label{{Name: "z", Value: "1"}, {Name: "b", Value: "2"}}, `m{b="2",edge="e",site="S",z="1"}`},
}

func TestEncoderLabelsSortedWithExternal(t *testing.T) {
	for _, c := range mergeCases {
		t.Run(c.name, func(t *testing.T) {
			e := newEncoder(map[string]string{"edge": "e", "site": "S"})
			require.NoError(t, e.add(&store.Sample{Name: "m", Labels: c.labels, T: 1, V: 1}))
			rec, err := e.record(nil)
			require.NoError(t, err)
			raw, err := decodeRecords(nil, [][]byte{rec})
			require.NoError(t, err)
			got, err := decodeV1(raw)
			require.NoError(t, err, "labels sorted by name")
			require.Len(t, got, 1)
			require.Equal(t, c.want, got[0].Series)
		})
	}
}

func TestLargeAppendSplitIntoRecords(t *testing.T) {
	rv := newReceiver(t, nil)
	cfg := testConfig(t, rv.URL)
	cfg.QueueSegmentBytes = 4096 // records of at most ~4 KiB: one Append of 3,000 series needs many
	cfg.BatchSize = 5000
	w := start(t, cfg, nil, nil)
	require.NoError(t, w.Append(context.Background(), seq("pm25", 3000, 3000, 1000)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 3000 }, 10*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 0, w.Status().Dropped)
}

// writeClientCert makes a CA and a client certificate signed by it, writes the client's PEM files to dir and
// returns the CA pool and the file paths.
func writeClientCert(t *testing.T, dir string) (*x509.CertPool, string, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "edge-1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, certFile, keyFile
}

func TestTLSClientCertificate(t *testing.T) {
	dir := t.TempDir()
	pool, certFile, keyFile := writeClientCert(t, dir)
	rv := &receiver{t: t}
	rv.Server = httptest.NewUnstartedServer(http.HandlerFunc(rv.serve))
	rv.Server.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	rv.StartTLS()
	t.Cleanup(rv.Close)
	ca := filepath.Join(dir, "server-ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rv.Certificate().Raw}), 0o600))

	cfg := testConfig(t, rv.URL)
	cfg.TLSCAFile, cfg.TLSCertFile, cfg.TLSKeyFile = ca, certFile, keyFile
	w := start(t, cfg, nil, nil)
	require.NoError(t, w.Append(context.Background(), seq("x", 2, 1, 1)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 2 }, 5*time.Second, 5*time.Millisecond)

	// Without the client certificate the handshake fails: retried, data kept.
	sl := &sleeps{}
	cfg2 := testConfig(t, rv.URL)
	cfg2.TLSCAFile = ca
	w2 := start(t, cfg2, sl, nil)
	require.NoError(t, w2.Append(context.Background(), seq("y", 1, 1, 1)))
	require.Eventually(t, func() bool { return len(sl.all()) >= 1 }, 5*time.Second, 5*time.Millisecond)
	require.Len(t, rv.accepted(), 2)
	require.EqualValues(t, 1, w2.Status().QueueSamples)
}

func TestExtraHeaders(t *testing.T) {
	rv := newReceiver(t, nil)
	cfg := testConfig(t, rv.URL)
	cfg.Headers = map[string]string{"X-Scope-OrgID": "city"}
	w := start(t, cfg, nil, nil)
	require.NoError(t, w.Append(context.Background(), seq("x", 1, 1, 1)))
	require.Eventually(t, func() bool { return len(rv.accepted()) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, "city", rv.requests()[0].Header.Get("X-Scope-OrgID"))
}

// FuzzEncode: whatever names and labels a device sends, a sample is either refused by add or encoded into a
// record that decodes to sorted, unique label names carrying the external labels.
func FuzzEncode(f *testing.F) {
	for _, c := range mergeCases {
		for _, l := range c.labels {
			f.Add("m", l.Name, l.Value)
		}
	}
	f.Add("", "a", "b")
	f.Add("bad\xff", "site", "x")
	f.Add("m", "__name__", "x")
	f.Add("m", "edge", "")
	f.Fuzz(func(t *testing.T, name, ln, lv string) {
		e := newEncoder(map[string]string{"edge": "e", "site": "S"})
		s := &store.Sample{Name: name, Labels: []store.Label{{Name: ln, Value: lv}}, T: 1, V: 1}
		if err := e.add(s); err != nil {
			return
		}
		rec, err := e.record(nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := decodeRecords(nil, [][]byte{rec})
		if err != nil {
			t.Fatal(err)
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		ls := req.Timeseries[0].Labels
		names := map[string]bool{}
		for i, l := range ls {
			if i > 0 && ls[i-1].Name >= l.Name {
				t.Fatalf("labels not sorted and unique: %v", ls)
			}
			names[l.Name] = true
		}
		if !names["__name__"] || !names["edge"] || !names["site"] {
			t.Fatalf("missing __name__ or external labels: %v", ls)
		}
	})
}

var fullPolicyCases = []struct {
	policy string
}{{PolicyDropOldest}, {PolicyBlock}}

// TestQueueFullPolicies: with the receiver down and the queue full, drop_oldest drops (and counts) the oldest
// samples so Append keeps working; block makes Append wait until its context ends.
func TestQueueFullPolicies(t *testing.T) {
	for _, c := range fullPolicyCases {
		t.Run(c.policy, func(t *testing.T) {
			rv := newReceiver(t, func(*request) (int, map[string]string) { return http.StatusServiceUnavailable, nil })
			cfg := testConfig(t, rv.URL)
			cfg.QueueMaxBytes, cfg.QueueSegmentBytes, cfg.QueueFullPolicy = 8192, 4096, c.policy
			reg := prometheus.NewRegistry()
			w := start(t, cfg, &sleeps{}, reg)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var err error
			for i := 0; i < 200 && err == nil; i++ {
				err = w.Append(ctx, seq(fmt.Sprintf("m%d", i), 20, 20, int64(i)))
			}
			st := w.Status()
			if c.policy == PolicyBlock {
				require.ErrorIs(t, err, context.DeadlineExceeded, "Append waits for space until its context ends")
				require.Zero(t, st.Dropped)
				return
			}
			require.NoError(t, err)
			require.Positive(t, st.Dropped)
			require.LessOrEqual(t, st.QueueDiskBytes, int64(8192))
			require.Equal(t, float64(st.Dropped), testutil.ToFloat64(findCounter(t, reg, "citywatch_remote_write_dropped_samples_total")))
		})
	}
}

// findCounter returns the registered collector of a single-series metric, for testutil.ToFloat64.
func findCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "copy"}, func() float64 { return v })
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}
