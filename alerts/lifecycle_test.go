package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/alerts/notify"
	"citywatch/internal/clock"
)

func TestRestartKeepsFiringAndPending(t *testing.T) {
	cfg := Config{Rules: []Rule{
		{Alert: "Hot", Expr: "temperature > 30"},
		{Alert: "Slow", Expr: "humidity > 80", For: time.Minute},
	}}
	e := newEnv(t, cfg)
	for i := 0; i <= 200; i += 10 {
		e.add("temperature", hot("a"), float64(i), 35)
		e.add("humidity", hot("a"), float64(i), 90)
	}
	e.at(0)
	firing := e.active("Hot", "site")["a"]
	require.Equal(t, StateFiring, firing.State)
	e.at(30 * sec)
	require.Equal(t, StatePending, e.active("Slow", "site")["a"].State)
	assert.Equal(t, []string{"Hot/a/firing"}, kinds(e.outbox.take()))

	e.start(cfg) // restart
	e.at(45 * sec)
	again := e.active("Hot", "site")["a"]
	assert.Equal(t, firing.ID, again.ID)
	assert.Equal(t, StateFiring, again.State)
	assert.Empty(t, e.outbox.take(), "no new firing notification after a restart")
	slow := e.active("Slow", "site")["a"]
	assert.Equal(t, StatePending, slow.State)
	assert.Equal(t, t0, slow.ActiveAt, "pending keeps active_at")
	e.at(60 * sec)
	assert.Equal(t, StateFiring, e.active("Slow", "site")["a"].State, "for counted from before the restart")
	assert.Equal(t, []string{"Slow/a/firing"}, kinds(e.outbox.take()))
}

func TestRestartWithRemovedRuleResolves(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	e.add("temperature", hot("a"), 0, 35)
	e.at(0)
	e.outbox.take()
	e.start(Config{Rules: []Rule{{Alert: "Other", Expr: "temperature > 99"}}})
	e.at(sec)
	assert.Equal(t, []string{"Hot/a/resolved"}, kinds(e.outbox.take()))
}

func TestSetRulesKeepsStateOfUnchangedRules(t *testing.T) {
	hotRule := Rule{Alert: "Hot", Expr: "temperature > 30", For: time.Minute, Group: "g"}
	e := newEnv(t, Config{Rules: []Rule{hotRule, {Alert: "Gone", Expr: "temperature > 0", Group: "g"}}})
	for i := 0; i <= 120; i += 10 {
		e.add("temperature", hot("a"), float64(i), 35)
	}
	e.at(0)
	assert.Equal(t, []string{"Gone/a/firing"}, kinds(e.outbox.take()))
	hotRule.Annotations = map[string]string{"summary": "now with a summary"}
	require.NoError(t, e.m.SetRules([]Rule{hotRule}))
	e.at(60 * sec)
	a := e.active("Hot", "site")["a"]
	assert.Equal(t, StateFiring, a.State, "for kept counting across the reload")
	assert.Equal(t, "now with a summary", a.Annotations["summary"])
	assert.ElementsMatch(t, []string{"Gone/a/resolved", "Hot/a/firing"}, kinds(e.outbox.take()))

	err := e.m.SetRules([]Rule{{Alert: "Bad", Expr: "rate(x[5m]", File: "r.yaml", Line: 7}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "r.yaml:7")
	assert.Len(t, e.m.Rules(), 1, "a bad reload changes nothing")
}

func TestAckStopsRemindersNotResolution(t *testing.T) {
	e := newEnv(t, Config{Grouping: Grouping{GroupWait: -1, GroupInterval: -1, RepeatInterval: time.Minute},
		LookbackDelta: 30 * sec, Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	for i := 0; i <= 300; i += 10 {
		e.add("temperature", hot("a"), float64(i), 35)
	}
	e.at(0)
	assert.Equal(t, []string{"Hot/a/firing"}, kinds(e.outbox.take()))
	e.at(59 * sec)
	assert.Empty(t, e.outbox.take())
	e.at(60 * sec)
	cs := e.outbox.take()
	assert.Equal(t, []string{"Hot/a/reminder"}, kinds(cs))
	assert.Equal(t, 1, cs[0].Seq)
	e.at(120 * sec)
	cs = e.outbox.take()
	require.Equal(t, []string{"Hot/a/reminder"}, kinds(cs))
	assert.Equal(t, 2, cs[0].Seq)

	id := e.active("Hot", "site")["a"].ID
	require.NoError(t, e.m.Ack(context.Background(), id, "nurse.kim", "checking on the patient"))
	require.ErrorIs(t, e.m.Ack(context.Background(), id+100, "x", ""), ErrAlertNotFound)
	require.ErrorIs(t, e.m.Ack(context.Background(), id, " ", ""), ErrInvalid)
	require.NoError(t, e.m.Assign(context.Background(), id, "dr.lee"))
	e.at(180 * sec)
	e.at(240 * sec)
	assert.Empty(t, e.outbox.take(), "acked: no reminders")
	a, err := e.m.Alert(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, StateFiring, a.State, "ack does not resolve")
	assert.Equal(t, "nurse.kim", a.AckedBy)
	assert.Equal(t, "checking on the patient", a.AckComment)
	assert.Equal(t, t0.Add(120*sec), a.AckedAt)
	assert.Equal(t, "dr.lee", a.Assignee)

	e.at(340 * sec) // 40s after the last sample: stale
	cs = e.outbox.take()
	require.Equal(t, []string{"Hot/a/resolved"}, kinds(cs))
	assert.Equal(t, "nurse.kim", cs[0].AckedBy)
	a, err = e.m.Alert(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, StateResolved, a.State)
	assert.Equal(t, "dr.lee", a.Assignee)
}

func TestSilences(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	for i := 0; i <= 300; i += 10 {
		e.add("temperature", hot("a"), float64(i), 35)
		e.add("temperature", hot("b"), float64(i), 35)
	}
	e.clock.Set(t0)
	for _, bad := range []Silence{
		{Matchers: []Matcher{{Name: "site", Op: "=", Value: "a"}}, EndsAt: t0.Add(time.Hour), CreatedBy: "ops"},
		{Matchers: []Matcher{{Name: "site", Op: "=~", Value: ".*"}}, EndsAt: t0.Add(time.Hour), CreatedBy: "ops", Comment: "x"},
		{Matchers: []Matcher{{Name: "site", Op: "=~", Value: "("}}, EndsAt: t0.Add(time.Hour), CreatedBy: "ops", Comment: "x"},
		{Matchers: []Matcher{{Name: "site", Op: "==", Value: "a"}}, EndsAt: t0.Add(time.Hour), CreatedBy: "ops", Comment: "x"},
		{Matchers: []Matcher{{Name: "site", Op: "=", Value: "a"}}, EndsAt: t0.Add(-time.Hour), CreatedBy: "ops", Comment: "x"},
	} {
		_, err := e.m.AddSilence(context.Background(), bad)
		assert.ErrorIs(t, err, ErrInvalid, "%+v", bad)
	}
	id, err := e.m.AddSilence(context.Background(), Silence{Matchers: []Matcher{{Name: "site", Op: "=~", Value: "a|c"},
		{Name: "alertname", Op: "!=", Value: "Other"}}, EndsAt: t0.Add(time.Minute), CreatedBy: "ops", Comment: "maintenance"})
	require.NoError(t, err)
	e.at(0)
	assert.Equal(t, []string{"Hot/b/firing"}, kinds(e.outbox.take()), "silenced alert is not notified")
	as := e.active("Hot", "site")
	assert.Equal(t, StateFiring, as["a"].State, "silenced alert still changes state")
	assert.Equal(t, []string{id}, as["a"].SilencedBy)
	ss := e.m.Silences()
	require.Len(t, ss, 1)
	assert.Equal(t, "active", ss[0].Status)

	e.at(30 * sec)
	assert.Empty(t, e.outbox.take())
	require.NoError(t, e.m.ExpireSilence(context.Background(), id))
	require.ErrorIs(t, e.m.ExpireSilence(context.Background(), "nope"), ErrSilenceNotFound)
	assert.Equal(t, "expired", e.m.Silences()[0].Status)
	e.at(31 * sec)
	assert.Equal(t, []string{"Hot/a/firing"}, kinds(e.outbox.take()), "notified once the silence ends")

	// Silences survive a restart.
	e.start(Config{Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	require.Len(t, e.m.Silences(), 1)
	assert.Equal(t, id, e.m.Silences()[0].ID)
}

func TestSilenceExpiresByTime(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	for i := 0; i <= 120; i += 10 {
		e.add("temperature", hot("a"), float64(i), 35)
	}
	e.clock.Set(t0)
	_, err := e.m.AddSilence(context.Background(), Silence{Matchers: []Matcher{{Name: "site", Op: "=", Value: "a"}},
		EndsAt: t0.Add(time.Minute), CreatedBy: "ops", Comment: "short"})
	require.NoError(t, err)
	e.at(59 * sec)
	assert.Empty(t, e.outbox.take())
	e.at(60 * sec)
	assert.Equal(t, []string{"Hot/a/firing"}, kinds(e.outbox.take()))
}

func TestInhibition(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{
		{Alert: "SiteUplinkDown", Expr: "uplink_up == 0", Labels: map[string]string{"inhibit_scope": "site"}},
		{Alert: "CO2High", Expr: "co2 > 1200"},
	}})
	for i := 0; i <= 120; i += 10 {
		e.add("uplink_up", map[string]string{"site": "a"}, float64(i), 0)
		e.add("co2", hot("a"), float64(i), 1500)
		e.add("co2", hot("b"), float64(i), 1500)
	}
	e.at(0)
	assert.ElementsMatch(t, []string{"SiteUplinkDown/a/firing", "CO2High/b/firing"}, kinds(e.outbox.take()))
	up := e.active("SiteUplinkDown", "site")["a"]
	co2 := e.active("CO2High", "site")
	assert.Equal(t, StateFiring, co2["a"].State)
	assert.Equal(t, []int64{up.ID}, co2["a"].InhibitedBy)
	assert.Equal(t, []int64{co2["a"].ID}, up.Inhibits)
	assert.Empty(t, co2["b"].InhibitedBy)

	e.add("uplink_up", map[string]string{"site": "a"}, 125, 1) // uplink back
	e.at(126 * sec)
	assert.ElementsMatch(t, []string{"SiteUplinkDown/a/resolved", "CO2High/a/firing"}, kinds(e.outbox.take()))
}

func TestGroupingTimings(t *testing.T) {
	e := newEnv(t, Config{Grouping: Grouping{GroupBy: []string{"site"}, GroupWait: 30 * sec,
		GroupInterval: 5 * time.Minute, RepeatInterval: time.Hour}, Rules: []Rule{
		{Alert: "A", Expr: "a > 0"}, {Alert: "B", Expr: "b > 0"}, {Alert: "C", Expr: "c > 0"},
	}})
	for i := 0; i <= 600; i += 10 {
		e.add("a", map[string]string{"site": "s"}, float64(i), 1)
		if i >= 10 {
			e.add("b", map[string]string{"site": "s"}, float64(i), 1)
		}
		if i >= 40 {
			e.add("c", map[string]string{"site": "s"}, float64(i), 1)
		}
	}
	e.at(0)
	e.at(10 * sec)
	e.at(29 * sec)
	assert.Empty(t, e.outbox.take(), "group_wait")
	e.at(30 * sec)
	assert.ElementsMatch(t, []string{"A/s/firing", "B/s/firing"}, kinds(e.outbox.take()))
	e.at(40 * sec)
	e.at(5*time.Minute + 29*sec)
	assert.Empty(t, e.outbox.take(), "group_interval")
	e.at(5*time.Minute + 30*sec)
	assert.Equal(t, []string{"C/s/firing"}, kinds(e.outbox.take()))
}

// A state change and its notifications commit together: when the outbox fails, nothing is saved and the
// next evaluation retries.
func TestCommitIsAtomic(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	e.add("temperature", hot("a"), 0, 35, 10, 35)
	e.outbox.fail = errors.New("outbox full")
	e.at(0)
	assert.Empty(t, e.active("Hot", "site"))
	assert.Equal(t, 1.0, testutil.ToFloat64(e.m.metrics.commitErrors))
	e.outbox.fail = nil
	e.at(10 * sec)
	assert.Equal(t, []string{"Hot/a/firing"}, kinds(e.outbox.take()))
	var n int
	require.NoError(t, e.m.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM test_outbox`).Scan(&n))
	assert.Equal(t, 1, n)
}

func TestAlertJSON(t *testing.T) {
	for _, v := range []float64{math.NaN(), 38.5} {
		b, err := json.Marshal(Alert{ID: 7, Value: v, State: StateFiring, Labels: map[string]string{"site": "s"}})
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal(b, &got))
		assert.Equal(t, float64(7), got["id"])
		assert.Equal(t, "firing", got["state"])
		if math.IsNaN(v) {
			assert.Nil(t, got["value"])
		} else {
			assert.Equal(t, v, got["value"])
		}
	}
}

// Run evaluates on its own ticker and processes events until its context ends.
func TestRun(t *testing.T) {
	out := &fakeOutbox{}
	m, err := New(Config{EvalInterval: 10 * time.Millisecond, Grouping: instantGrouping, DBPath: t.TempDir() + "/a.db",
		Rules: []Rule{{Alert: "CameraOffline", Event: &EventSpec{Kind: EventCameraOffline}}}}, Deps{Outbox: out})
	require.NoError(t, err)
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	m.Event(Event{Kind: KindCameraState, Labels: map[string]string{"camera": "c", "state": "offline"}})
	require.Eventually(t, func() bool {
		as, err := m.Alerts(context.Background(), AlertFilter{State: StateFiring})
		return err == nil && len(as) == 1
	}, 10*time.Second, 5*time.Millisecond)
	m.Event(Event{Kind: KindCameraState, Labels: map[string]string{"camera": "c", "state": "online"}})
	require.Eventually(t, func() bool {
		as, err := m.Alerts(context.Background(), AlertFilter{State: StateResolved})
		return err == nil && len(as) == 1
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"CameraOffline//firing", "CameraOffline//resolved"}, kinds(out.take()))
	require.NoError(t, m.Close())
	require.NoError(t, m.Close(), "Close is idempotent")
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{EvalInterval: -time.Second, DBPath: "x"},
		{Grouping: Grouping{GroupBy: []string{"bad-label"}}, DBPath: "x"},
		{}, // no database
	} {
		_, err := New(cfg, Deps{Outbox: &fakeOutbox{}})
		assert.ErrorIs(t, err, ErrInvalid, "%+v", cfg)
	}
	_, err := New(Config{DBPath: t.TempDir() + "/a.db"}, Deps{})
	assert.ErrorIs(t, err, ErrInvalid, "no outbox")
	_, err = New(Config{DBPath: t.TempDir() + "/a.db", Rules: []Rule{{Alert: "A", Expr: "up"}}}, Deps{Outbox: &fakeOutbox{}})
	assert.ErrorContains(t, err, "no Queryable")
}

// A resolution that waits for the group interval is not lost by a restart.
func TestRestartKeepsPendingResolution(t *testing.T) {
	cfg := Config{LookbackDelta: 15 * sec, Grouping: Grouping{GroupWait: -1, GroupInterval: 5 * time.Minute,
		RepeatInterval: time.Hour}, Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}}
	e := newEnv(t, cfg)
	e.add("temperature", hot("a"), 0, 35)
	e.at(0)
	assert.Equal(t, []string{"Hot/a/firing"}, kinds(e.outbox.take()))
	e.at(20 * sec)
	assert.Empty(t, e.active("Hot", "site"))
	assert.Empty(t, e.outbox.take(), "waiting for group_interval")
	e.start(cfg)
	e.at(4 * time.Minute)
	assert.Empty(t, e.outbox.take())
	e.at(5 * time.Minute)
	cs := e.outbox.take()
	require.Equal(t, []string{"Hot/a/resolved"}, kinds(cs))
	assert.Equal(t, 20*sec, cs[0].OutageDuration)
	e.at(11 * time.Minute)
	assert.Empty(t, e.outbox.take(), "sent once")
}

func TestAlertsFilter(t *testing.T) {
	e := newEnv(t, Config{LookbackDelta: 15 * sec, Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	e.add("temperature", hot("a"), 0, 35)
	e.add("temperature", hot("b"), 0, 35, 10, 35, 20, 35, 30, 35)
	e.at(0)
	e.at(20 * sec) // a resolves
	e.at(30 * sec)
	all, err := e.m.Alerts(context.Background(), AlertFilter{})
	require.NoError(t, err)
	assert.Len(t, all, 2)
	bySite, err := e.m.Alerts(context.Background(), AlertFilter{Site: "a"})
	require.NoError(t, err)
	require.Len(t, bySite, 1)
	assert.Equal(t, StateResolved, bySite[0].State)
	since, err := e.m.Alerts(context.Background(), AlertFilter{Since: t0.Add(25 * sec)})
	require.NoError(t, err)
	require.Len(t, since, 1, "a resolved before Since")
	assert.Equal(t, "b", since[0].Labels["site"])
	one, err := e.m.Alerts(context.Background(), AlertFilter{Limit: 1})
	require.NoError(t, err)
	assert.Len(t, one, 1)
	_, err = e.m.Alerts(context.Background(), AlertFilter{State: "bogus"})
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = e.m.Alert(context.Background(), 9999)
	assert.ErrorIs(t, err, ErrAlertNotFound)
	got, err := e.m.Alert(context.Background(), bySite[0].ID)
	require.NoError(t, err)
	assert.Equal(t, bySite[0].ResolvedAt, got.ResolvedAt)
}

// Removing a rule and adding it back before the next evaluation keeps its alerts.
func TestSetRulesRemoveAndRestoreKeepsAlerts(t *testing.T) {
	r := Rule{Alert: "Hot", Expr: "temperature > 30"}
	e := newEnv(t, Config{Rules: []Rule{r}})
	e.add("temperature", hot("a"), 0, 35, 10, 35)
	e.at(0)
	id := e.active("Hot", "site")["a"].ID
	e.outbox.take()
	require.NoError(t, e.m.SetRules(nil))
	require.NoError(t, e.m.SetRules([]Rule{r}))
	e.at(10 * sec)
	assert.Equal(t, id, e.active("Hot", "site")["a"].ID)
	assert.Empty(t, e.outbox.take())
}

// TestEventRulesDoNotWaitForTheTick: with a one-hour evaluation interval, a camera going offline is still
// notified and recovered at once, by the round Run starts shortly after events arrive; expression rules keep
// their schedule.
func TestEventRulesDoNotWaitForTheTick(t *testing.T) {
	out := &fakeOutbox{}
	clk := clock.NewFake(t0)
	m, err := New(Config{EvalInterval: time.Hour, Grouping: instantGrouping, DBPath: t.TempDir() + "/a.db",
		Rules: []Rule{{Alert: "CameraOffline", Event: &EventSpec{Kind: EventCameraOffline}}}}, Deps{Outbox: out, Clock: clk})
	require.NoError(t, err)
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	var got []notify.Change
	collect := func(n int) func() bool {
		return func() bool {
			got = append(got, out.take()...)
			return len(got) >= n
		}
	}
	// Events that arrive before Run's first round are drained by it; wait for that round.
	require.Eventually(t, func() bool { return m.Rules()[0].Health != "unknown" }, 10*time.Second, time.Millisecond)
	for i, state := range []string{"offline", "online"} {
		m.Event(Event{Kind: KindCameraState, Labels: map[string]string{"camera": "c", "site": "s", "state": state}})
		require.NoError(t, clk.BlockUntil(wait, 2), "Run did not arm its settle timer next to the hourly tick (%s: %d waiters)", state, clk.Waiters())
		require.Empty(t, out.take(), "notified before the settle delay gathered the burst")
		clk.Advance(eventSettle)
		require.Eventually(t, collect(i+1), 10*time.Second, time.Millisecond, "%s not notified before the next tick", state)
	}
	assert.Equal(t, []string{"CameraOffline/s/firing", "CameraOffline/s/resolved"}, kinds(got))
	assert.Less(t, clk.Now().Sub(t0), time.Hour, "the hourly tick never came")
}
