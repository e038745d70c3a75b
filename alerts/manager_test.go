package alerts

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
)

const sec = time.Second

func hot(site string) map[string]string {
	return map[string]string{"site": site, "device": "d-" + site}
}

func TestForAndKeepFiringFor(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30", For: 30 * sec, KeepFiringFor: 20 * sec}}})
	// Hot from 10s to 60s, then cool; samples every 10s.
	e.add("temperature", hot("a"), 0, 20, 10, 35, 20, 35, 30, 35, 40, 35, 50, 35, 60, 35, 70, 20, 80, 20, 90, 20, 100, 20)

	e.at(0)
	assert.Empty(t, e.active("Hot", "site"))
	e.at(10 * sec)
	assert.Equal(t, map[string]State{"a": StatePending}, states(e.active("Hot", "site")))
	e.at(39 * sec)
	assert.Equal(t, map[string]State{"a": StatePending}, states(e.active("Hot", "site")), "for not yet elapsed")
	assert.Empty(t, e.outbox.take())
	e.at(40 * sec)
	a := e.active("Hot", "site")["a"]
	assert.Equal(t, StateFiring, a.State)
	assert.Equal(t, t0.Add(10*sec), a.ActiveAt)
	assert.Equal(t, t0.Add(40*sec), a.FiredAt)
	assert.Equal(t, []string{"Hot/a/firing"}, kinds(e.outbox.take()))

	e.at(60 * sec)
	e.at(70 * sec) // condition gone, keep_firing_for holds it
	assert.Equal(t, map[string]State{"a": StateFiring}, states(e.active("Hot", "site")))
	e.at(89 * sec)
	assert.Equal(t, map[string]State{"a": StateFiring}, states(e.active("Hot", "site")))
	e.at(90 * sec)
	assert.Empty(t, e.active("Hot", "site"))
	cs := e.outbox.take()
	require.Equal(t, []string{"Hot/a/resolved"}, kinds(cs))
	assert.Equal(t, 80*sec, cs[0].OutageDuration, "from active_at (10s) to resolution (90s)")
	assert.Equal(t, t0.Add(90*sec), cs[0].EndsAt)

	hist, err := e.m.Alerts(context.Background(), AlertFilter{State: StateResolved})
	require.NoError(t, err)
	require.Len(t, hist, 1)
	assert.Equal(t, t0.Add(90*sec), hist[0].ResolvedAt)
	assert.Equal(t, "resolved", hist[0].NotifiedState)
	assert.Equal(t, 2, hist[0].NotifyCount)
}

func TestPendingThatVanishesNeverNotifies(t *testing.T) {
	e := newEnv(t, Config{LookbackDelta: 15 * sec, Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30", For: time.Minute}}})
	e.add("temperature", hot("a"), 0, 35, 10, 35, 20, 20)
	e.at(10 * sec)
	assert.Equal(t, map[string]State{"a": StatePending}, states(e.active("Hot", "site")))
	e.at(20 * sec)
	assert.Empty(t, e.active("Hot", "site"))
	all, err := e.m.Alerts(context.Background(), AlertFilter{})
	require.NoError(t, err)
	assert.Empty(t, all, "a pending alert that never fired leaves no history")
	assert.Empty(t, e.outbox.take())
}

// Missing data must not flap: a gap shorter than the lookback keeps the alert, a longer one resolves it.
func TestStalenessAndGaps(t *testing.T) {
	e := newEnv(t, Config{LookbackDelta: time.Minute, Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	e.add("temperature", hot("a"), 0, 35, 10, 35) // then the sensor goes quiet
	e.at(10 * sec)
	require.Equal(t, map[string]State{"a": StateFiring}, states(e.active("Hot", "site")))
	for _, d := range []time.Duration{20 * sec, 40 * sec, 69 * sec} {
		e.at(d)
		assert.Equal(t, map[string]State{"a": StateFiring}, states(e.active("Hot", "site")), "gap of %v", d-10*sec)
	}
	e.add("temperature", hot("a"), 65, 35) // data returns within the lookback
	e.at(120 * sec)
	assert.Equal(t, map[string]State{"a": StateFiring}, states(e.active("Hot", "site")))
	e.at(126 * sec) // 61s after the last sample: stale
	assert.Empty(t, e.active("Hot", "site"))
	assert.Equal(t, []string{"Hot/a/firing", "Hot/a/resolved"}, kinds(e.outbox.take()))
}

func TestTemplates(t *testing.T) {
	e := newEnv(t, Config{ExternalURL: "https://cw.example", Rules: []Rule{{
		Alert: "Fever", Expr: "body_temperature > 38",
		Labels: map[string]string{"severity": `{{ if gt $value 39.0 }}critical{{ else }}warning{{ end }}`},
		Annotations: map[string]string{
			"summary": `{{ $labels.device }} at {{ $labels.site }}: {{ humanize $value }} °C ({{ $labels.severity }})`,
			"raw":     `{{ $value }}`,
			"link":    `{{ $externalURL }}/sites/{{ $labels.site }}`,
		},
	}}})
	e.add("body_temperature", map[string]string{"site": "q-hotel-1", "device": "wearable-001"}, 0, 39.25)
	e.add("body_temperature", map[string]string{"site": "q-hotel-2", "device": "wearable-002"}, 0, 38.5)
	e.at(0)
	as := e.active("Fever", "device")
	require.Len(t, as, 2)
	a := as["wearable-001"]
	assert.Equal(t, "critical", a.Labels["severity"])
	assert.Equal(t, "wearable-001 at q-hotel-1: 39.25 °C (critical)", a.Annotations["summary"])
	assert.Equal(t, "39.25", a.Annotations["raw"])
	assert.Equal(t, "https://cw.example/sites/q-hotel-1", a.Annotations["link"])
	assert.Equal(t, "warning", as["wearable-002"].Labels["severity"])
	cs := e.outbox.take()
	require.Len(t, cs, 2)
	assert.True(t, strings.HasPrefix(cs[0].GeneratorURL, "https://cw.example/api/alerts/"), cs[0].GeneratorURL)
}

func TestRuleErrorReportedOthersContinue(t *testing.T) {
	db := newEnv(t, Config{}).db
	reg := prometheus.NewRegistry()
	out := &fakeOutbox{}
	clk := clock.NewFake(t0)
	m, err := New(Config{Grouping: instantGrouping, DBPath: t.TempDir() + "/a.db", Rules: []Rule{
		{Alert: "Broken", Expr: "broken > 0", Group: "g1"},
		{Alert: "Hot", Expr: "temperature > 30", Group: "g2"},
	}}, Deps{Queryable: failingQueryable{db}, Outbox: out, Clock: clk, Registerer: reg})
	require.NoError(t, err)
	defer m.Close()
	e := &env{t: t, db: db}
	e.add("temperature", hot("a"), 0, 35)
	m.evalOnce(context.Background())

	st := m.Rules()
	require.Len(t, st, 2)
	assert.Equal(t, "err", st[0].Health)
	assert.Contains(t, st[0].LastError, "disk on fire")
	assert.Equal(t, t0, st[0].LastEval)
	assert.Equal(t, "ok", st[1].Health)
	assert.Equal(t, 1, st[1].Firing)
	assert.Equal(t, []string{"Hot/a/firing"}, kinds(out.take()))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.metrics.evalFailures.WithLabelValues("g1")))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.metrics.evalFailures.WithLabelValues("g2")))
	n, err := testutil.GatherAndCount(reg, "citywatch_alerts_rule_evaluation_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP citywatch_alerts_active Active alerts by state.
# TYPE citywatch_alerts_active gauge
citywatch_alerts_active{state="firing"} 1
citywatch_alerts_active{state="pending"} 0
`), "citywatch_alerts_active"))
}

// A query that fails must not resolve the alerts of its rule.
func TestFailingQueryKeepsAlerts(t *testing.T) {
	e := newEnv(t, Config{})
	fq := &switchQueryable{Queryable: e.db}
	e.q = fq
	e.start(Config{Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	e.add("temperature", hot("a"), 0, 35)
	e.at(0)
	require.Equal(t, map[string]State{"a": StateFiring}, states(e.active("Hot", "site")))
	fq.broken.Store(true)
	e.at(10 * sec)
	assert.Equal(t, map[string]State{"a": StateFiring}, states(e.active("Hot", "site")))
	assert.Equal(t, "err", e.m.Rules()[0].Health)
}

type switchQueryable struct {
	storage.Queryable
	broken atomic.Bool
}

func (s *switchQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	if s.broken.Load() {
		return nil, errors.New("disk on fire")
	}
	return s.Queryable.Querier(mint, maxt)
}
