package canary

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/internal/clock"
	"citywatch/store"
	"citywatch/store/storetest"
	"citywatch/store/tsdb"
)

// fakeAlerts fires the canary alert firesAfter after the last sample with value 1 (never if negative).
type fakeAlerts struct {
	clock      *clock.Fake
	app        *storetest.Appender
	firesAfter time.Duration
	stale      bool // also return an old alert from a previous round
}

func (f *fakeAlerts) AlertsByRule(_ context.Context, rule string, since time.Time) ([]alerts.Alert, error) {
	var out []alerts.Alert
	if f.stale {
		old := since.Add(-time.Minute)
		out = append(out, alerts.Alert{ID: 1, Rule: rule, Fingerprint: "old", State: alerts.StateFiring, ActiveAt: old, FiredAt: old})
	}
	if f.firesAfter < 0 {
		return out, nil
	}
	var sampleT time.Time
	for _, s := range f.app.Samples() {
		if s.V == 1 {
			sampleT = time.UnixMilli(s.T)
		}
	}
	if now := f.clock.Now(); !sampleT.IsZero() && !now.Before(sampleT.Add(f.firesAfter)) {
		out = append([]alerts.Alert{{ID: 2, Rule: rule, Fingerprint: "fp-canary", State: alerts.StateFiring,
			ActiveAt: sampleT, FiredAt: sampleT.Add(f.firesAfter)}}, out...)
	}
	return out, nil
}

// fakeDeliveries has a delivered firing notification for fingerprint fp-canary when deliver is set.
type fakeDeliveries struct {
	clock    *clock.Fake
	deliver  bool
	status   string
	receiver string // "" is "pager"
}

func (f *fakeDeliveries) Deliveries(_ context.Context, flt notify.DeliveryFilter) ([]notify.Delivery, error) {
	if !f.deliver || flt.Fingerprint != "fp-canary" || flt.Alert != RuleName {
		return nil, nil
	}
	status := f.status
	if status == "" {
		status = notify.StatusDelivered
	}
	receiver := f.receiver
	if receiver == "" {
		receiver = "pager"
	}
	return []notify.Delivery{{ID: 7, Receiver: receiver, Alert: RuleName, Fingerprint: "fp-canary", State: "firing",
		Status: status, CreatedAt: f.clock.Now()}}, nil
}

type fakeNotifier struct {
	mu   sync.Mutex
	msgs []string
	err  error
}

func (n *fakeNotifier) Notify(_ context.Context, msg string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, msg)
	return n.err
}

func (n *fakeNotifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.msgs)
}

type fixture struct {
	c     *Canary
	clock *clock.Fake
	app   *storetest.Appender
	al    *fakeAlerts
	del   *fakeDeliveries
	fb    *fakeNotifier
	reg   *prometheus.Registry
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	// Every wait of the canary moves the clock by exactly that wait, so rounds run at once and deterministically.
	f := &fixture{clock: clock.NewFake(time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)), app: &storetest.Appender{}, fb: &fakeNotifier{},
		reg: prometheus.NewRegistry()}
	t.Cleanup(f.clock.AutoAdvance())
	f.al = &fakeAlerts{clock: f.clock, app: f.app, firesAfter: 2 * time.Second}
	f.del = &fakeDeliveries{clock: f.clock, deliver: true}
	if cfg.FallbackReceiver == "" {
		cfg.FallbackReceiver = "oncall-sms"
	}
	c, err := New(cfg, Deps{Appender: f.app, Alerts: f.al, Deliveries: f.del, Fallback: f.fb, Registerer: f.reg, Clock: f.clock})
	require.NoError(t, err)
	f.c = c
	return f
}

func (f *fixture) gauge() float64 { return testutil.ToFloat64(f.c.ok) }

func TestRoundOK(t *testing.T) {
	f := newFixture(t, Config{Enabled: true})
	start := f.clock.Now()
	require.NoError(t, f.c.Round(context.Background()))
	require.Equal(t, 1.0, f.gauge())
	require.Equal(t, 0, f.fb.count())
	st := f.c.Status()
	require.True(t, st.OK)
	require.Equal(t, 1, st.Rounds)
	require.Equal(t, 2*time.Second, st.FireLatency)
	require.Equal(t, start, st.LastSuccess)
	// The round appended the firing sample, then the resolving one, on the synthetic series.
	samples := f.app.Samples()
	require.Len(t, samples, 2)
	require.Equal(t, MetricName, samples[0].Name)
	require.Equal(t, []store.Label{{Name: "canary", Value: "1"}}, samples[0].Labels)
	require.Equal(t, 1.0, samples[0].V)
	require.Equal(t, 0.0, samples[1].V)
	require.Equal(t, 1.0, testutil.ToFloat64(f.c.rounds.WithLabelValues("ok")))
}

var failureCases = []struct {
	name       string
	setup      func(*fixture)
	result     string
	errSubstr  string
	wantNotify int
}{
	{"alert never fires", func(f *fixture) { f.al.firesAfter = -1 }, "no_alert", "did not fire", 1},
	{"only a stale alert of an earlier round", func(f *fixture) { f.al.firesAfter, f.al.stale = -1, true }, "no_alert", "did not fire", 1},
	{"alert fires too late", func(f *fixture) { f.al.firesAfter = time.Minute }, "no_alert", "did not fire", 1},
	{"delivery missing", func(f *fixture) { f.del.deliver = false }, "no_delivery", "no notification", 1},
	{"delivery still pending", func(f *fixture) { f.del.status = notify.StatusPending }, "no_delivery", "no notification", 1},
	// The in-process MQTT publish of notify.mqtt.enabled always succeeds: it proves nothing about receivers.
	{"only the built-in MQTT publish delivered", func(f *fixture) { f.del.receiver = notify.MQTTReceiverName }, "no_delivery", "no notification", 1},
	{"append fails", func(f *fixture) { f.app.Err = errors.New("disk full") }, "append_error", "disk full", 1},
}

func TestRoundFailures(t *testing.T) {
	for _, tc := range failureCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{Enabled: true, Timeout: 10 * time.Second})
			tc.setup(f)
			start := f.clock.Now()
			err := f.c.Round(context.Background())
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.errSubstr)
			require.Equal(t, 0.0, f.gauge())
			require.Equal(t, 1.0, testutil.ToFloat64(f.c.rounds.WithLabelValues(tc.result)))
			require.Equal(t, tc.wantNotify, f.fb.count())
			require.Contains(t, f.fb.msgs[0], "citywatch canary failed")
			require.False(t, f.c.Status().OK)
			if tc.result != "append_error" {
				// The round gave up at the timeout, not before and not much after.
				require.Equal(t, start.Add(10*time.Second), f.clock.Now())
			}
		})
	}
}

// TestFallbackRepeatsAndRecovers: while rounds keep failing, the fallback is told once per RepeatInterval;
// a passing round sets the gauge back to 1, and a later failure tells the fallback again at once.
func TestFallbackRepeatsAndRecovers(t *testing.T) {
	f := newFixture(t, Config{Enabled: true, Interval: time.Minute, Timeout: 10 * time.Second, RepeatInterval: 3 * time.Minute})
	f.al.firesAfter = -1
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		require.Error(t, f.c.Round(ctx))
		f.clock.Advance(50 * time.Second) // to the next round
	}
	// Rounds at 0, 1, 2, 3 min: told at 0 and again at 3 min (RepeatInterval).
	require.Equal(t, 2, f.fb.count())
	require.Equal(t, 0.0, f.gauge())

	f.al.firesAfter = time.Second
	require.NoError(t, f.c.Round(ctx))
	require.Equal(t, 1.0, f.gauge())
	require.NotZero(t, testutil.ToFloat64(f.c.lastOK))

	f.del.deliver = false
	require.Error(t, f.c.Round(ctx))
	require.Equal(t, 3, f.fb.count())
	require.Contains(t, f.fb.msgs[2], "Last passing round")
}

// TestFallbackFailureRetriedNextRound: a fallback that could not be told is tried again at the next failing
// round instead of waiting RepeatInterval.
func TestFallbackFailureRetriedNextRound(t *testing.T) {
	f := newFixture(t, Config{Enabled: true, Timeout: 5 * time.Second})
	f.al.firesAfter = -1
	f.fb.err = errors.New("sms gateway down")
	require.Error(t, f.c.Round(context.Background()))
	require.Error(t, f.c.Round(context.Background()))
	require.Equal(t, 2, f.fb.count())
	require.Equal(t, 2.0, testutil.ToFloat64(f.c.fallbacks.WithLabelValues("failed")))
}

// TestRunStopsOnCancel: Run runs rounds and returns nil when its context ends, without recording a verdict for
// the interrupted round.
func TestRunStopsOnCancel(t *testing.T) {
	f := newFixture(t, Config{Enabled: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.c.Run(ctx) }()
	require.Eventually(t, func() bool { return f.c.Status().Rounds >= 3 }, 10*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	require.True(t, f.c.Status().OK)
	require.Equal(t, 0, f.fb.count())
}

var configCases = []struct {
	name string
	cfg  Config
	err  string
}{
	{"defaults", Config{Enabled: true}, ""},
	{"negative interval", Config{Interval: -time.Second}, "canary.interval: must be > 0"},
	{"timeout not below interval", Config{Interval: time.Minute, Timeout: time.Minute}, "canary.timeout: must be shorter"},
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestNewRequiresDeps(t *testing.T) {
	_, err := New(Config{Enabled: true}, Deps{})
	require.Error(t, err)
	_, err = New(Config{Enabled: true, FallbackReceiver: "x"}, Deps{Appender: &storetest.Appender{}, Alerts: &fakeAlerts{}, Deliveries: &fakeDeliveries{}})
	require.ErrorContains(t, err, "Fallback")
}

// TestRuleCompiles: the synthetic rule is accepted by the alert manager's validation and selects only the
// canary series.
func TestRuleCompiles(t *testing.T) {
	r := Rule()
	require.Equal(t, RuleName, r.Alert)
	require.True(t, strings.HasPrefix(r.Expr, MetricName+`{canary="1"}`))
	require.Zero(t, r.For)
	db, err := notify.OpenDB(t.TempDir() + "/citywatch.db")
	require.NoError(t, err)
	defer db.Close()
	o, err := notify.NewOutbox(notify.Config{}, notify.Deps{DB: db})
	require.NoError(t, err)
	ts, err := tsdb.Open(tsdb.Config{Dir: t.TempDir()}, tsdb.Deps{})
	require.NoError(t, err)
	defer ts.Close()
	m, err := alerts.New(alerts.Config{Rules: []alerts.Rule{r}}, alerts.Deps{DB: db, Outbox: o, Queryable: ts})
	require.NoError(t, err)
	defer m.Close()
	require.Len(t, m.Rules(), 1)
}

// TestManagerAlertsFilters: the adapter keeps only the canary rule's alerts.
func TestManagerAlertsFilters(t *testing.T) {
	src := alertSourceFunc(func(f alerts.AlertFilter) ([]alerts.Alert, error) {
		require.Equal(t, 10000, f.Limit)
		return []alerts.Alert{{ID: 1, Rule: "Fever"}, {ID: 2, Rule: RuleName}, {ID: 3, Rule: "Other"}}, nil
	})
	got, err := ManagerAlerts(src).AlertsByRule(context.Background(), RuleName, time.Now())
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, int64(2), got[0].ID)
}

type alertSourceFunc func(alerts.AlertFilter) ([]alerts.Alert, error)

func (f alertSourceFunc) Alerts(_ context.Context, flt alerts.AlertFilter) ([]alerts.Alert, error) {
	return f(flt)
}
