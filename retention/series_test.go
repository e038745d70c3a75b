package retention

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/internal/clock"
)

// fakeSeries holds series by site and case id, as the TSDB's ward series are labelled.
type fakeSeries struct {
	series map[[2]string]int // {site, case id} → series
	cleans int
}

func (f *fakeSeries) DeleteSeries(_ context.Context, site, caseID string) (int, error) {
	n := f.series[[2]string{site, caseID}]
	delete(f.series, [2]string{site, caseID})
	return n, nil
}

func (f *fakeSeries) CleanTombstones() error { f.cleans++; return nil }

type fakePeriods map[string]time.Duration

func (p fakePeriods) RetentionPeriods() map[string]time.Duration { return p }

// TestPurgeDeletesOccupantSeries: a purge deletes the time series labelled with the occupant's case id (of
// their site only), says so in the deletion record, and cleans the TSDB's tombstones once per sweep that
// deleted any; a second sweep deletes nothing more.
func TestPurgeDeletesOccupantSeries(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	db, lg, w := openMeta(t, t.TempDir(), clk)
	w.add(t, Occupancy{Site: "site-a", ID: "1", CaseID: "Q-1", Names: []string{"Ann"},
		Start: clk.Now().Add(-40 * 24 * time.Hour), End: clk.Now().Add(-31 * 24 * time.Hour)}, "ann@example.org")
	series := &fakeSeries{series: map[[2]string]int{{"site-a", "Q-1"}: 4, {"site-b", "Q-1"}: 2, {"site-a", "Q-2"}: 1}}
	e, err := New(Config{}, Deps{Occupants: w, Audit: lg, DB: db, Clock: clk, Series: series})
	require.NoError(t, err)
	rep, err := e.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Series)
	assert.Equal(t, map[[2]string]int{{"site-b", "Q-1"}: 2, {"site-a", "Q-2"}: 1}, series.series, "only the occupant's site's series")
	assert.Equal(t, 1, series.cleans)
	recs, err := lg.Query(context.Background(), audit.Filter{Action: audit.RetentionPurge})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Contains(t, recs[0].Detail, "4 time series deleted")
	rep, err = e.Sweep(context.Background())
	require.NoError(t, err)
	assert.Zero(t, rep.Series)
	assert.Equal(t, 1, series.cleans, "no clean without a deletion")
}

// TestRuntimePeriodsOverConfig: a site's retention period set at run time (the ward's settings over its API)
// takes precedence over the configured one, and a shorter one widens the sweep's candidates.
func TestRuntimePeriodsOverConfig(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	db, lg, w := openMeta(t, t.TempDir(), clk)
	ended := clk.Now().Add(-6 * 24 * time.Hour)
	w.add(t, Occupancy{Site: "site-a", ID: "1", CaseID: "Q-1", Names: []string{"Ann"}, Start: ended.Add(-10 * 24 * time.Hour), End: ended}, "a")
	w.add(t, Occupancy{Site: "site-b", ID: "2", CaseID: "Q-2", Names: []string{"Bob"}, Start: ended.Add(-10 * 24 * time.Hour), End: ended}, "b")
	periods := fakePeriods{}
	e, err := New(Config{AfterRelease: 30 * 24 * time.Hour, Sites: map[string]time.Duration{"site-a": 20 * 24 * time.Hour}},
		Deps{Occupants: w, Audit: lg, DB: db, Clock: clk, Periods: periods})
	require.NoError(t, err)
	rep, err := e.Sweep(context.Background())
	require.NoError(t, err)
	assert.Zero(t, rep.Occupancies, "6 days after release, within 20 and 30 days")
	periods["site-a"] = 5 * 24 * time.Hour
	assert.Equal(t, 5*24*time.Hour, e.AfterRelease("site-a"))
	rep, err = e.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Occupancies)
	assert.Zero(t, w.personal(t, "1"), "site-a's 5 days are over")
	assert.NotZero(t, w.personal(t, "2"), "site-b keeps the configured 30 days")
}
