package tsdb

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// TestDeleteSeries: the series matching the matchers disappear from every query at once and, after
// CleanTombstones, from the persisted blocks' files; other series stay; deleting again finds none.
func TestDeleteSeries(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	info := func(site, caseID string) []store.Sample {
		var ss []store.Sample
		for i := range 10 {
			ss = append(ss, store.Sample{Name: "ward_occupant_info", Labels: lbls("site", site, "case_id", caseID, "device", "w1"),
				T: base + int64(i)*1000, V: 1})
		}
		return ss
	}
	for _, s := range [][2]string{{"a", "Q-SECRET-1"}, {"a", "Q-2"}, {"b", "Q-OTHER"}} {
		require.NoError(t, db.Append(ctx, info(s[0], s[1])))
	}
	require.NoError(t, db.db.CompactHead(promtsdb.NewRangeHead(db.db.Head(), base, base+10_000)))
	require.Len(t, db.db.Blocks(), 1)

	match := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "site", "a"),
		labels.MustNewMatcher(labels.MatchEqual, "case_id", "Q-SECRET-1")}
	n, err := db.DeleteSeries(ctx, match...)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Empty(t, readAll(t, db, match...), "no query sees the deleted series")
	assert.Len(t, readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "ward_occupant_info")), 2)
	n, err = db.DeleteSeries(ctx, match...)
	require.NoError(t, err)
	assert.Zero(t, n, "deleting again finds none")

	require.NoError(t, db.CleanTombstones())
	// The rewritten blocks index no series with the case id: it is no label value any more (nor in their
	// symbol table: TestDeleteSeriesLeavesNothing).
	for _, b := range db.db.Blocks() {
		ir, err := b.Index()
		require.NoError(t, err)
		vals, err := ir.SortedLabelValues(ctx, "case_id", nil)
		require.NoError(t, err)
		assert.NotContains(t, vals, "Q-SECRET-1", "block %s", b.Meta().ULID)
		assert.Contains(t, vals, "Q-2")
		require.NoError(t, ir.Close())
	}
	assert.Len(t, db.db.Blocks(), 1, "the old block is gone")
	assert.Len(t, readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "ward_occupant_info")), 2)

	_, err = db.DeleteSeries(ctx)
	assert.Error(t, err, "no matcher deletes nothing")
}
