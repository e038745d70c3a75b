package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/ingest/mapping"
	"citywatch/internal/clock"
	"citywatch/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type handleCase struct {
	name     string
	topic    string
	payload  string
	storeErr error
	// want
	wantErr       bool
	wantStored    int    // samples in the store
	wantSamples   int    // citywatch_ingest_samples_total
	wantMessages  int    // citywatch_ingest_messages_total
	wantReason    string // rejected reason, "" for none
	wantRejected  int    // citywatch_ingest_rejected_total{reason=wantReason}
	wantDevice    string // device in the registry, "" for none
	wantDevErrors uint64
	wantDead      bool
}

var handleCases = []handleCase{
	{name: "stored", topic: "city/d1/siteA/sensor42", payload: "temperature=21.5;humidity=40",
		wantStored: 2, wantSamples: 2, wantMessages: 1, wantDevice: "d1/siteA/sensor42"},
	{name: "unmapped topic", topic: "other/thing", payload: "temperature=1",
		wantMessages: 1, wantReason: mapping.ReasonUnmappedTopic, wantRejected: 1, wantDead: true},
	{name: "bad payload counts as device error", topic: "city/d1/siteA/sensor42", payload: "bad",
		wantMessages: 1, wantReason: mapping.ReasonBadJSON, wantRejected: 1, wantDevice: "d1/siteA/sensor42",
		wantDevErrors: 1, wantDead: true},
	{name: "reason outside the closed set", topic: "city/d1/siteA/s1", payload: "weird",
		wantMessages: 1, wantReason: ReasonMapperError, wantRejected: 1, wantDevice: "d1/siteA/s1",
		wantDevErrors: 1, wantDead: true},
	{name: "mapper error", topic: "city/d1/siteA/s1", payload: "boom",
		wantMessages: 1, wantReason: ReasonMapperError, wantRejected: 1, wantDead: true},
	{name: "store refuses some samples", topic: "city/d1/siteA/s1", payload: "a=1;b=2;c=3",
		storeErr:   &store.RejectedError{Count: 2, Reason: "out_of_bounds", Err: errors.New("too old")},
		wantStored: 1, wantSamples: 1, wantMessages: 1, wantReason: "store_out_of_bounds", wantRejected: 2,
		wantDevice: "d1/siteA/s1", wantDevErrors: 1, wantDead: true},
	{name: "store reason is sanitised", topic: "city/d1/siteA/s1", payload: "a=1",
		storeErr:     &store.RejectedError{Count: 1, Reason: "Dup licate/x", Err: errors.New("dup")},
		wantMessages: 1, wantReason: "store_dup_licate_x", wantRejected: 1, wantDevice: "d1/siteA/s1",
		wantDevErrors: 1, wantDead: true},
	{name: "store failure", topic: "city/d1/siteA/s1", payload: "a=1", storeErr: errors.New("disk full"),
		wantErr: true},
	{name: "wrapped store failure", topic: "city/d1/siteA/s1", payload: "a=1",
		storeErr: fmt.Errorf("wal: %w", context.DeadlineExceeded), wantErr: true},
}

func newTestPipeline(t testing.TB, cfg PipelineConfig, app store.Appender) (*Pipeline, *prometheus.Registry, *clock.Fake) {
	t.Helper()
	reg := prometheus.NewRegistry()
	clk := clock.NewFake(t0)
	p, err := NewPipeline(cfg, PipelineDeps{Mapper: fakeMapper{}, Appender: app, Registerer: reg, Clock: clk})
	require.NoError(t, err)
	return p, reg, clk
}

func TestPipelineHandle(t *testing.T) {
	for _, tc := range handleCases {
		t.Run(tc.name, func(t *testing.T) {
			app := &fakeAppender{err: tc.storeErr}
			p, reg, _ := newTestPipeline(t, PipelineConfig{}, app)
			err := p.Handle(context.Background(), Message{Topic: tc.topic, Payload: []byte(tc.payload),
				Received: t0, Source: "embedded", ClientID: "c1"})
			if tc.wantErr {
				require.Error(t, err)
				require.ErrorIs(t, err, tc.storeErr)
				v, _ := metricValue(t, reg, "citywatch_ingest_append_errors_total")
				assert.Equal(t, 1.0, v)
			} else {
				require.NoError(t, err)
			}
			assert.Len(t, app.all(), tc.wantStored)
			samples, _ := metricValue(t, reg, "citywatch_ingest_samples_total", "source", "embedded")
			assert.Equal(t, float64(tc.wantSamples), samples, "samples_total")
			msgs, _ := metricValue(t, reg, "citywatch_ingest_messages_total", "source", "embedded")
			assert.Equal(t, float64(tc.wantMessages), msgs, "messages_total")
			if tc.wantReason != "" {
				v, ok := metricValue(t, reg, "citywatch_ingest_rejected_total", "reason", tc.wantReason)
				assert.True(t, ok, "reason %q exported", tc.wantReason)
				assert.Equal(t, float64(tc.wantRejected), v, "rejected_total")
			}
			dead := p.Rejected()
			if tc.wantDead {
				require.Len(t, dead, 1)
				assert.Equal(t, tc.wantReason, dead[0].Reason)
				assert.Equal(t, tc.topic, dead[0].Topic)
				assert.Equal(t, "c1", dead[0].ClientID)
				assert.Equal(t, "embedded", dead[0].Source)
				assert.Equal(t, tc.payload, dead[0].Payload)
				assert.NotEmpty(t, dead[0].Error)
				assert.Equal(t, t0, dead[0].Time)
			} else {
				assert.Empty(t, dead)
			}
			devs := p.Devices()
			if tc.wantDevice == "" {
				assert.Empty(t, devs)
				return
			}
			require.Len(t, devs, 1)
			assert.Equal(t, tc.wantDevice, devs[0].ID)
			assert.Equal(t, uint64(1), devs[0].Messages)
			assert.Equal(t, tc.wantDevErrors, devs[0].Errors)
			assert.Equal(t, t0, devs[0].LastSeen)
			parts := strings.Split(tc.topic, "/")
			assert.Equal(t, map[string]string{"district": parts[1], "site": parts[2], "device": parts[3]}, devs[0].Labels)
		})
	}
}

func TestPipelineReasonsPreinitialised(t *testing.T) {
	_, reg, _ := newTestPipeline(t, PipelineConfig{}, &fakeAppender{})
	for _, r := range append([]string{ReasonMapperError}, mapping.Reasons...) {
		v, ok := metricValue(t, reg, "citywatch_ingest_rejected_total", "reason", r)
		assert.True(t, ok, "reason %q is exported before any rejection", r)
		assert.Zero(t, v)
	}
	for _, name := range []string{"citywatch_ingest_append_errors_total", "citywatch_ingest_devices",
		"citywatch_ingest_handle_duration_seconds"} {
		_, ok := metricValue(t, reg, name)
		assert.True(t, ok, name)
	}
}

func TestPipelineLastValuesAndSeen(t *testing.T) {
	p, _, clock := newTestPipeline(t, PipelineConfig{MaxMetricsPerDevice: 2}, &fakeAppender{})
	ctx := context.Background()
	topic := "city/d1/s1/dev"
	require.NoError(t, p.Handle(ctx, Message{Topic: topic, Payload: []byte("a=1;b=2"), Received: t0}))
	require.NoError(t, p.Handle(ctx, Message{Topic: topic, Payload: []byte("a=5;c=3"), Received: t0.Add(time.Minute)}))
	// A message without Received gets the pipeline clock.
	clock.Advance(2 * time.Minute)
	require.NoError(t, p.Handle(ctx, Message{Topic: topic, Payload: []byte("b=7")}))
	devs := p.Devices()
	require.Len(t, devs, 1)
	d := devs[0]
	assert.Equal(t, map[string]float64{"a": 5, "b": 7}, d.LastValues, "c is beyond MaxMetricsPerDevice")
	assert.Equal(t, t0, d.FirstSeen)
	assert.Equal(t, t0.Add(2*time.Minute), d.LastSeen)
	assert.Equal(t, uint64(3), d.Messages)

	now := t0.Add(5 * time.Minute)
	samples := p.DeviceSamples(now)
	require.Len(t, samples, 1)
	require.NotNil(t, samples[0].Hint, "the store's series hint (TestDeviceExportHint)")
	samples[0].Hint = nil
	assert.Equal(t, store.Sample{Name: "device_last_seen_seconds", Labels: []store.Label{
		{Name: "device", Value: "dev"}, {Name: "district", Value: "d1"}, {Name: "site", Value: "s1"}},
		T: now.UnixMilli(), V: 180}, samples[0])
}

func TestPipelineRegistryEvictsLongestSilent(t *testing.T) {
	p, reg, _ := newTestPipeline(t, PipelineConfig{MaxDevices: 100}, &fakeAppender{})
	ctx := context.Background()
	for i := range 250 {
		msg := Message{Topic: fmt.Sprintf("city/d/s/dev%03d", i), Payload: []byte("v=1"), Received: t0.Add(time.Duration(i) * time.Second)}
		require.NoError(t, p.Handle(ctx, msg))
		// dev000 keeps talking, so it is never the longest-silent.
		require.NoError(t, p.Handle(ctx, Message{Topic: "city/d/s/dev000", Payload: []byte("v=1"), Received: msg.Received}))
	}
	devs := p.Devices()
	require.Len(t, devs, 100)
	ids := map[string]bool{}
	for _, d := range devs {
		ids[d.ID] = true
	}
	assert.True(t, ids["d/s/dev000"], "the device that kept talking stays")
	assert.True(t, ids["d/s/dev249"], "the newest device stays")
	assert.False(t, ids["d/s/dev001"], "the longest-silent device was evicted")
	evicted, _ := metricValue(t, reg, "citywatch_ingest_devices_evicted_total")
	assert.Equal(t, 150.0, evicted)
	n, _ := metricValue(t, reg, "citywatch_ingest_devices")
	assert.Equal(t, 100.0, n)
}

func TestPipelineDeadLettersBoundedNewestFirst(t *testing.T) {
	p, _, _ := newTestPipeline(t, PipelineConfig{DeadLetterSize: 3, DeadLetterPayloadBytes: 8}, &fakeAppender{})
	for i := range 5 {
		require.NoError(t, p.Handle(context.Background(), Message{Topic: fmt.Sprintf("bad/%d", i),
			Payload: []byte("0123456789abcdef")}))
	}
	dead := p.Rejected()
	require.Len(t, dead, 3)
	for i, want := range []string{"bad/4", "bad/3", "bad/2"} {
		assert.Equal(t, want, dead[i].Topic)
		assert.Equal(t, "01234567", dead[i].Payload)
		assert.True(t, dead[i].Truncated)
		assert.Equal(t, 16, dead[i].Size)
	}
}

var payloadCases = []struct {
	name       string
	payload    []byte
	limit      int
	wantText   string
	wantBase64 bool
	wantTrunc  bool
}{
	{"short text", []byte(`{"t":1}`), 512, `{"t":1}`, false, false},
	{"empty", nil, 512, "", false, false},
	{"long text", []byte("abcdefgh"), 4, "abcd", false, true},
	{"multibyte rune split by the limit", []byte("aé€x"), 4, "aé", false, true},
	{"multibyte exact", []byte("aé€"), 6, "aé€", false, false},
	{"binary", []byte{0xff, 0x00, 0xfe, 0x01}, 512, base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0xfe, 0x01}), true, false},
	{"binary truncated", []byte{0xff, 0x00, 0xfe, 0x01}, 2, base64.StdEncoding.EncodeToString([]byte{0xff, 0x00}), true, true},
	{"invalid utf8 in the middle", []byte("ab\xc3("), 512, base64.StdEncoding.EncodeToString([]byte("ab\xc3(")), true, false},
}

func TestPayloadPrefix(t *testing.T) {
	for _, tc := range payloadCases {
		t.Run(tc.name, func(t *testing.T) {
			text, b64, trunc := payloadPrefix(tc.payload, tc.limit)
			assert.Equal(t, tc.wantText, text)
			assert.Equal(t, tc.wantBase64, b64)
			assert.Equal(t, tc.wantTrunc, trunc)
		})
	}
}

// FuzzPayloadPrefix checks that any payload is kept as valid UTF-8 within the bound, or as base64 of a
// bounded prefix, and never panics.
func FuzzPayloadPrefix(f *testing.F) {
	for _, tc := range payloadCases {
		f.Add(tc.payload, tc.limit)
	}
	f.Fuzz(func(t *testing.T, p []byte, limit int) {
		if limit <= 0 || limit > 4096 {
			limit = 512
		}
		text, b64, trunc := payloadPrefix(p, limit)
		if b64 {
			raw, err := base64.StdEncoding.DecodeString(text)
			if err != nil || len(raw) > limit || !bytes.HasPrefix(p, raw) || trunc != (len(raw) < len(p)) {
				t.Fatalf("bad base64 prefix %q of %q (limit %d)", text, p, limit)
			}
			return
		}
		if !utf8.ValidString(text) || len(text) > limit || !bytes.HasPrefix(p, []byte(text)) || trunc != (len(text) < len(p)) {
			t.Fatalf("bad text prefix %q of %q (limit %d)", text, p, limit)
		}
	})
}

func TestClip(t *testing.T) {
	assert.Equal(t, "ab", clip("abc", 2))
	assert.Equal(t, "a", clip("aé", 2))
	assert.Equal(t, "a\uFFFDb", clip("a\xffb", 10))
}

func TestPipelineRejectionLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	clk := clock.NewFake(t0)
	p, err := NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: fakeMapper{}, Appender: &fakeAppender{}, Logger: logger, Clock: clk})
	require.NoError(t, err)
	ctx := context.Background()
	for range 5 {
		require.NoError(t, p.Handle(ctx, Message{Topic: "nope", Payload: []byte("x")}))
	}
	// Another reason has its own limit.
	require.NoError(t, p.Handle(ctx, Message{Topic: "city/a/b/c", Payload: []byte("bad")}))
	clk.Advance(11 * time.Second)
	require.NoError(t, p.Handle(ctx, Message{Topic: "nope", Payload: []byte("x")}))

	mu.Lock()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	mu.Unlock()
	require.Len(t, lines, 3, "log:\n%s", strings.Join(lines, "\n"))
	assert.Contains(t, lines[0], "reason=unmapped_topic")
	assert.Contains(t, lines[0], "suppressed=0")
	assert.Contains(t, lines[0], "component=ingest")
	assert.Contains(t, lines[1], "reason=bad_json")
	assert.Contains(t, lines[2], "reason=unmapped_topic")
	assert.Contains(t, lines[2], "suppressed=4")
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestPipelineRunExportsDevices(t *testing.T) {
	app := &fakeAppender{}
	p, err := NewPipeline(PipelineConfig{DeviceExportInterval: 10 * time.Millisecond},
		PipelineDeps{Mapper: fakeMapper{}, Appender: app})
	require.NoError(t, err)
	require.NoError(t, p.Handle(context.Background(), Message{Topic: "city/d/s/x", Payload: []byte("v=1"), Received: time.Now()}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool {
		for _, s := range app.all() {
			if s.Name == "device_last_seen_seconds" {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

func TestNewPipelineErrors(t *testing.T) {
	_, err := NewPipeline(PipelineConfig{}, PipelineDeps{Appender: &fakeAppender{}})
	assert.ErrorContains(t, err, "Mapper")
	_, err = NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: fakeMapper{}})
	assert.ErrorContains(t, err, "Appender")
	_, err = NewPipeline(PipelineConfig{MaxDevices: -1}, PipelineDeps{Mapper: fakeMapper{}, Appender: &fakeAppender{}})
	assert.ErrorContains(t, err, "MaxDevices")
	reg := prometheus.NewRegistry()
	deps := PipelineDeps{Mapper: fakeMapper{}, Appender: &fakeAppender{}, Registerer: reg}
	_, err = NewPipeline(PipelineConfig{}, deps)
	require.NoError(t, err)
	_, err = NewPipeline(PipelineConfig{}, deps)
	assert.ErrorContains(t, err, "registering metrics", "a second pipeline on one registry is an error, not a panic")
}

// TestPipelineConcurrent runs Handle from many goroutines (run with -race) and checks that nothing is lost
// from the counts.
func TestPipelineConcurrent(t *testing.T) {
	app := &fakeAppender{}
	p, reg, _ := newTestPipeline(t, PipelineConfig{MaxDevices: 40, DeadLetterSize: 10}, app)
	const goroutines, perG = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				payload := "v=1;w=2"
				if i%10 == 0 {
					payload = "bad"
				}
				msg := Message{Topic: fmt.Sprintf("city/d/s/dev%d", (g*perG+i)%50), Payload: []byte(payload),
					Received: t0.Add(time.Duration(i) * time.Millisecond), Source: fmt.Sprintf("src%d", g%2)}
				if err := p.Handle(context.Background(), msg); err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					_ = p.Devices()
					_ = p.Rejected()
					_ = p.DeviceSamples(t0)
				}
			}
		}()
	}
	wg.Wait()
	total := 0.0
	for _, src := range []string{"src0", "src1"} {
		v, _ := metricValue(t, reg, "citywatch_ingest_messages_total", "source", src)
		total += v
	}
	assert.Equal(t, float64(goroutines*perG), total)
	bad, _ := metricValue(t, reg, "citywatch_ingest_rejected_total", "reason", mapping.ReasonBadJSON)
	assert.Equal(t, float64(goroutines*perG/10), bad)
	assert.Len(t, app.all(), 2*goroutines*perG*9/10)
	assert.LessOrEqual(t, len(p.Devices()), 40)
	assert.Len(t, p.Rejected(), 10)
}

// staticMapper returns the same result for every message, to measure the pipeline alone.
type staticMapper struct{ res mapping.Result }

func (m staticMapper) Map(string, []byte, time.Time) (mapping.Result, error) { return m.res, nil }

type nopAppender struct{}

func (nopAppender) Append(context.Context, []store.Sample) error { return nil }

func staticPipeline(t testing.TB) *Pipeline {
	labels := []store.Label{{Name: "device", Value: "x"}, {Name: "district", Value: "d"}, {Name: "site", Value: "s"}}
	res := mapping.Result{Device: "d/s/x", DeviceLabels: labels}
	for _, n := range []string{"temperature", "humidity", "co2", "pm25", "noise"} {
		res.Samples = append(res.Samples, store.Sample{Name: n, Labels: labels, V: 1})
	}
	p, err := NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: staticMapper{res}, Appender: nopAppender{},
		Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	return p
}

// TestPipelineHandleDoesNotAllocate guards the hot path: a known device on a known source costs no allocation
// in the pipeline itself.
func TestPipelineHandleDoesNotAllocate(t *testing.T) {
	p := staticPipeline(t)
	msg := Message{Topic: "city/d/s/x", Payload: []byte("{}"), Received: t0, Source: "embedded"}
	ctx := context.Background()
	require.NoError(t, p.Handle(ctx, msg))
	allocs := testing.AllocsPerRun(1000, func() { _ = p.Handle(ctx, msg) })
	assert.Zero(t, allocs)
}

// BenchmarkPipelineHandle measures the pipeline's own cost per message (static mapper, no-op store) and
// reports it as a ratio of a baseline that only calls the mapper and the appender.
func BenchmarkPipelineHandle(b *testing.B) {
	p := staticPipeline(b)
	msg := Message{Topic: "city/d/s/x", Payload: []byte("{}"), Received: t0, Source: "embedded"}
	benchHandle(b, p, msg, "baseline-ns/op", func() {
		res, _ := p.mapper.Map(msg.Topic, msg.Payload, msg.Received)
		_ = p.appender.Append(context.Background(), res.Samples)
	})
}

// benchHandle times b.N calls of baseline, then measures Handle of msg on p from parallel goroutines, and
// reports the baseline's nanoseconds per call as metric beside it.
func benchHandle(b *testing.B, p *Pipeline, msg Message, metric string, baseline func()) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	for range b.N {
		baseline()
	}
	took := time.Since(start)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = p.Handle(ctx, msg)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), metric)
}

var _ Mapper = (*mapping.Mapper)(nil)

// TestPipelineWithRealMapper runs the default citywatch mapping through the pipeline.
func TestPipelineWithRealMapper(t *testing.T) {
	m, err := mapping.New(nil, mapping.Options{DefaultMapping: true})
	require.NoError(t, err)
	app := &fakeAppender{}
	reg := prometheus.NewRegistry()
	p, err := NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: m, Appender: app, Registerer: reg})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, p.Handle(ctx, Message{Topic: "city/d1/siteA/sensor42", Payload: []byte(`{"temperature":21.5,"humidity":40}`),
		Received: t0, Source: "embedded"}))
	require.NoError(t, p.Handle(ctx, Message{Topic: "city/d1/siteA/sensor42", Payload: []byte(`{"temperature":`),
		Received: t0, Source: "embedded"}))
	assert.Len(t, app.all(), 2)
	devs := p.Devices()
	require.Len(t, devs, 1)
	assert.Equal(t, "d1/siteA/sensor42", devs[0].ID)
	assert.Equal(t, map[string]float64{"temperature": 21.5, "humidity": 40}, devs[0].LastValues)
	assert.Equal(t, map[string]string{"district": "d1", "site": "siteA", "device": "sensor42"}, devs[0].Labels)
	bad, _ := metricValue(t, reg, "citywatch_ingest_rejected_total", "reason", mapping.ReasonBadJSON)
	assert.Equal(t, 1.0, bad)
	require.Len(t, p.Rejected(), 1)
	assert.Equal(t, `{"temperature":`, p.Rejected()[0].Payload)
}

// BenchmarkPipelineRealMapper measures Handle with the default mapping and a 5-field JSON payload (no-op
// store), against a baseline of the mapper alone.
func BenchmarkPipelineRealMapper(b *testing.B) {
	m, err := mapping.New(nil, mapping.Options{DefaultMapping: true})
	require.NoError(b, err)
	p, err := NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: m, Appender: nopAppender{}, Registerer: prometheus.NewRegistry()})
	require.NoError(b, err)
	msg := Message{Topic: "city/d1/siteA/sensor42", Payload: []byte(`{"temperature":21.5,"humidity":40,"co2":612,"pm25":8.1,"noise":41}`),
		Received: t0, Source: "embedded"}
	benchHandle(b, p, msg, "mapper-only-ns/op", func() { _, _ = m.Map(msg.Topic, msg.Payload, msg.Received) })
}
