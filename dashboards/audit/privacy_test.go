package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
)

// TestOccupantActionsKnown: the ward's actions are known (counted by name, accepted as a query filter).
func TestOccupantActionsKnown(t *testing.T) {
	l, reg := newLog(t)
	ctx := context.Background()
	for _, act := range audit.OccupantActions {
		require.True(t, audit.KnownAction(act), act)
		require.NoError(t, l.Record(ctx, audit.Record{Actor: "nurse", Action: act, Site: "site-a", Target: "C-1", Success: true}))
		assert.Equal(t, float64(1), counterValue(t, reg, act, true), act)
	}
	require.False(t, audit.KnownAction("ward_bogus"))
}

// TestPseudonymise: records naming the occupant (by case id as target, by name in the detail) lose the
// name; records of other occupants and other sites are untouched.
func TestPseudonymise(t *testing.T) {
	l, _ := newLog(t)
	ctx := context.Background()
	recs := []audit.Record{
		{Actor: "nurse", Action: audit.WardOccupantView, Site: "site-a", Target: "C-17", Detail: "with personal fields", Success: true},
		{Actor: "nurse", Action: audit.WardManualRead, Site: "site-a", Target: "C-17", Detail: "body_temperature 38.4", Success: true},
		{Actor: "nurse", Action: audit.WardCheckIn, Site: "site-a", Target: "room 3", Detail: "Nguyen Van An, +84 90 1234", Success: true},
		{Actor: "nurse", Action: audit.WardOccupantView, Site: "site-a", Target: "C-18", Detail: "with personal fields", Success: true},
		{Actor: "nurse", Action: audit.WardOccupantView, Site: "site-b", Target: "C-17", Detail: "other site", Success: true},
	}
	for _, r := range recs {
		require.NoError(t, l.Record(ctx, r))
	}
	n, err := l.Pseudonymise(ctx, "site-a", []string{"C-17", "Nguyen Van An", "", "+84 90 1234"}, "purged-1a2b")
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	all, err := l.Query(ctx, audit.Filter{Limit: 5})
	require.NoError(t, err)
	var got []string
	for i := len(all) - 1; i >= 0; i-- {
		r := all[i]
		got = append(got, strings.Join([]string{r.Site, r.Action, r.Target, r.Detail}, "|"))
	}
	assert.Equal(t, []string{
		"site-a|ward_occupant_view|purged-1a2b|",
		"site-a|ward_manual_reading|purged-1a2b|",
		"site-a|ward_check_in|room 3|",
		"site-a|ward_occupant_view|C-18|with personal fields",
		"site-b|ward_occupant_view|C-17|other site",
	}, got)
	n, err = l.Pseudonymise(ctx, "site-a", []string{"C-17"}, "purged-1a2b")
	require.NoError(t, err)
	assert.Zero(t, n, "a second pass finds nothing")
	n, err = l.Pseudonymise(ctx, "site-a", nil, "x")
	require.NoError(t, err)
	assert.Zero(t, n)
}
