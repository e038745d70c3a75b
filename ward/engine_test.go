package ward

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/alerts"
	"citywatch/deploy/rules"
)

// packExpr returns the expression of alert name in a rule pack.
func packExpr(t *testing.T, file, body, name string) string {
	t.Helper()
	list, err := alerts.ParseRuleFile(file, []byte(body))
	require.NoError(t, err)
	for _, r := range list {
		if r.Alert == name {
			return r.Expr
		}
	}
	t.Fatalf("no rule %s in %s", name, file)
	return ""
}

// eval runs expr at the env's clock and returns each result's labels as "k=v,k=v" (sorted, __name__ dropped).
// occupiedVacantUnbound sets up site-a's room 101 with wearable-001, occupied by case Q-1, and vacant room 102
// with wearable-002; wearable-003 is bound to no room. All three report metric v over the minute up to now,
// and the ward evaluates once. It returns the occupancy.
func (e *env) occupiedVacantUnbound(t *testing.T, now time.Time, metric string, v float64) Occupancy {
	t.Helper()
	ctx := context.Background()
	occupied := e.room(t, "site-a", "101", "wearable-001")
	e.room(t, "site-a", "102", "wearable-002")
	occ, err := e.ward.Store().CheckIn(ctx, "site-a", CheckIn{RoomID: occupied.ID, CaseID: "Q-1"}, "nurse")
	require.NoError(t, err)
	for _, d := range []string{"wearable-001", "wearable-002", "wearable-003"} {
		e.wearable(t, "site-a", d, metric, now.Add(-time.Minute), now.Add(time.Second), v)
	}
	require.NoError(t, e.ward.Evaluate(ctx))
	return occ
}

func (e *env) eval(t *testing.T, expr string) []string {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
	q, err := eng.NewInstantQuery(context.Background(), e.db, nil, expr, e.clock.Now())
	require.NoError(t, err)
	res := q.Exec(context.Background())
	require.NoError(t, res.Err)
	vec, err := res.Vector()
	require.NoError(t, err)
	var out []string
	for _, s := range vec {
		var kv []string
		s.Metric.Range(func(l labels.Label) {
			if l.Name != "__name__" && l.Name != "district" {
				kv = append(kv, l.Name+"="+l.Value)
			}
		})
		sort.Strings(kv)
		out = append(out, strings.Join(kv, ","))
	}
	sort.Strings(out)
	return out
}

// TestFeverNamesRoomAndCase: with the default pack's Fever expression, a fever of an occupied room's wearable
// names the room and case id, a wearable of a vacant room is suppressed, an unbound wearable alerts as a
// device; after the release the occupant's fever is suppressed at once (staleness marker, not 5m lookback).
func TestFeverNamesRoomAndCase(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, now, Config{})
	occ := e.occupiedVacantUnbound(t, now, MetricBodyTemperature, 38.9)

	fever := packExpr(t, rules.DefaultName, rules.Default, "Fever")
	assert.Equal(t, []string{
		"case_id=Q-1,device=wearable-001,room=101,site=site-a",
		"device=wearable-003,site=site-a",
	}, e.eval(t, fever))
	assert.Equal(t, e.eval(t, fever), e.eval(t, packExpr(t, rules.DemoName, rules.Demo, "Fever")), "the demo pack joins the same way")

	e.clock.Set(now.Add(10 * time.Second))
	_, err := e.ward.Store().SetStatus(ctx, "site-a", occ.ID, StatusReleased, "nurse")
	require.NoError(t, err)
	e.wearable(t, "site-a", "wearable-001", MetricBodyTemperature, now.Add(time.Second), now.Add(11*time.Second), 38.9)
	require.NoError(t, e.ward.Evaluate(ctx))
	assert.Equal(t, []string{"device=wearable-003,site=site-a"}, e.eval(t, fever))
}

// TestMissedRoundSeries: an occupant without a reading at a closed round gets a ward_round_missed series naming
// room and case id, an occupant with a wearable reading does not, and a nurse's late entry for that round
// ends it.
func TestMissedRoundSeries(t *testing.T) {
	ctx := context.Background()
	round := time.Date(2026, 12, 7, 8, 0, 0, 0, berlin)
	e := newEnv(t, round.Add(-2*time.Hour), Config{Sites: []SiteConfig{{Site: "site-a", Location: berlin}}})
	st := e.ward.Store()
	r1 := e.room(t, "site-a", "101", "wearable-001")
	r2 := e.room(t, "site-a", "102", "wearable-002")
	_, err := st.CheckIn(ctx, "site-a", CheckIn{RoomID: r1.ID, CaseID: "Q-DONE"}, "nurse")
	require.NoError(t, err)
	missing, err := st.CheckIn(ctx, "site-a", CheckIn{RoomID: r2.ID, CaseID: "Q-MISS"}, "nurse")
	require.NoError(t, err)
	e.wearable(t, "site-a", "wearable-001", MetricBodyTemperature, round.Add(-5*time.Minute), round.Add(5*time.Minute), 36.7)

	e.clock.Set(round.Add(29 * time.Minute)) // still open
	require.NoError(t, e.ward.Evaluate(ctx))
	roundMissed := packExpr(t, rules.WardName, rules.Ward, "WardRoundMissed")
	assert.Empty(t, e.eval(t, roundMissed), "evening round of the day before: nobody had checked in")

	e.clock.Set(round.Add(31 * time.Minute)) // closed
	require.NoError(t, e.ward.Evaluate(ctx))
	assert.Equal(t, []string{"case_id=Q-MISS,room=102,round=2026-12-07 08:00,site=site-a"}, e.eval(t, roundMissed))

	e.clock.Set(round.Add(50 * time.Minute))
	_, err = st.AddManualReading(ctx, "site-a", ManualReading{OccupancyID: missing.ID, Value: 36.9, Round: round, EnteredBy: "nurse"})
	require.NoError(t, err)
	require.NoError(t, e.ward.Evaluate(ctx))
	assert.Empty(t, e.eval(t, roundMissed), "a late manual entry for the round ends it")
}

// TestWearableRemovedSeries: low skin temperature without heart rate publishes ward_wearable_removed with the
// occupant's context.
func TestWearableRemovedSeries(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, now, Config{})
	r := e.room(t, "site-a", "101", "wearable-001")
	_, err := e.ward.Store().CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID, CaseID: "Q-1"}, "nurse")
	require.NoError(t, err)
	e.wearable(t, "site-a", "wearable-001", MetricBodyTemperature, now.Add(-time.Minute), now, 31.0)
	require.NoError(t, e.ward.Evaluate(ctx))
	assert.Equal(t, []string{"case_id=Q-1,device=wearable-001,room=101,site=site-a"},
		e.eval(t, packExpr(t, rules.WardName, rules.Ward, "WearableRemoved")))
}

// TestPossibleLeaveSeries: at night, door-zone motion with a silent wearable publishes ward_possible_leave and
// records one event for the report.
func TestPossibleLeaveSeries(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	e := newEnv(t, now, Config{})
	r := e.room(t, "site-a", "101", "wearable-001")
	_, err := e.ward.Store().CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID, CaseID: "Q-1", Start: now.Add(-time.Hour)}, "nurse")
	require.NoError(t, err)
	e.wearable(t, "site-a", "wearable-001", MetricBodyTemperature, now.Add(-20*time.Minute), now.Add(-10*time.Minute), 36.6)
	require.NoError(t, e.db.Append(ctx, motion("site-a", "cam-101", "door", now.Add(-20*time.Second), now, 0.4)))
	require.NoError(t, e.ward.Evaluate(ctx))
	require.NoError(t, e.ward.Evaluate(ctx)) // the same episode is one event
	assert.Equal(t, []string{"case_id=Q-1,room=101,site=site-a"}, e.eval(t, packExpr(t, rules.WardName, rules.Ward, "PossibleLeave")))
	evs, err := e.ward.Store().Events(ctx, "site-a", now.Add(-time.Hour), now.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, EventPossibleLeave, evs[0].Kind)
}

// TestWearableSilentNamesRoomAndCase: the default pack's WearableSilent joins the occupant like Fever does.
func TestWearableSilentNamesRoomAndCase(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, now, Config{})
	e.occupiedVacantUnbound(t, now, "device_last_seen_seconds", 400)
	assert.Equal(t, []string{
		"case_id=Q-1,device=wearable-001,room=101,site=site-a",
		"device=wearable-003,site=site-a",
	}, e.eval(t, packExpr(t, rules.DefaultName, rules.Default, "WearableSilent")))
}
