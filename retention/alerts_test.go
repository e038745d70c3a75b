package retention

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
	"citywatch/internal/sqlitedb"
)

// fakeAlerts is an alert history: alerts naming subjects, some still firing.
type fakeAlerts struct {
	calls   [][]string
	pseudo  []string
	firing  int // calls that still find a firing alert
	settled int64
}

func (f *fakeAlerts) Pseudonymise(_ context.Context, site string, subjects []string, pseudonym string) (int64, error) {
	f.calls = append(f.calls, append([]string{site}, subjects...))
	f.pseudo = append(f.pseudo, pseudonym)
	if f.firing > 0 {
		f.firing--
		return 1, errors.New("alerts: an alert naming the subject is still active: 1 of site q1")
	}
	n := f.settled
	f.settled = 0
	return n, nil
}

// TestRetentionReachesAlerts: the purge hands the alert history the occupant's case id and names with the
// pseudonym of the deletion record, counts what it rewrote, and, while an alert naming them still fires,
// fails the occupancy so the next sweep tries again (and then completes it).
func TestRetentionReachesAlerts(t *testing.T) {
	db, err := sqlitedb.Open(t.TempDir() + "/meta.db")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	w := newFakeWard(t, db)
	w.add(t, Occupancy{Site: "q1", ID: "7", CaseID: "Q-0007", Names: []string{"Tran Van B"},
		Start: clk.Now().Add(-20 * 24 * time.Hour), End: clk.Now().Add(-6 * 24 * time.Hour)}, "+84 1")
	al := &fakeAlerts{firing: 1, settled: 2}
	e, err := New(Config{AfterRelease: 5 * 24 * time.Hour}, Deps{Occupants: w, Alerts: al, DB: db, Clock: clk})
	require.NoError(t, err)

	rep, err := e.Sweep(t.Context())
	require.Error(t, err, "an alert naming the occupant still fires")
	assert.Equal(t, int64(1), rep.Alerts)
	require.Len(t, al.calls, 1)
	assert.Equal(t, []string{"q1", "Q-0007", "Tran Van B"}, al.calls[0])
	assert.Regexp(t, `^purged-[0-9a-f]{12}$`, al.pseudo[0])

	rep, err = e.Sweep(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(2), rep.Alerts, "the next sweep rewrites the settled alerts")
	_, err = e.Sweep(t.Context())
	require.NoError(t, err)
	assert.Len(t, al.calls, 2, "a complete purge is not repeated")
}
