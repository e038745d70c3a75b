package tsdb

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// shardSum returns the sum over every shard of one of its counters, for instance the per-series lookups
// (lookupsOf) or the group lookups (groupLookups) so far.
func shardSum(db *DB, counter func(*shard) uint64) uint64 {
	var n uint64
	for i := range db.shards {
		n += counter(&db.shards[i])
	}
	return n
}

func lookupsOf(db *DB) uint64 { return shardSum(db, func(s *shard) uint64 { return s.lookups }) }
func groupLookups(db *DB) uint64 {
	return shardSum(db, func(s *shard) uint64 { return s.groupLookups })
}

// TestSeriesGroupOneLookupPerMessage: once a device's series are known, its messages find them through their
// label set's group, without a per-series lookup (a map lookup and a label walk per sample), whatever label
// slice each message brings.
func TestSeriesGroupOneLookupPerMessage(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, db.Append(ctx, message("dev1", base+int64(i)*1000, float64(i))))
	}
	before := lookupsOf(db)
	for i := 3; i < 10; i++ {
		m := message("dev1", base+int64(i)*1000, float64(i)) // a new label slice per message, as the mapper makes
		require.NoError(t, db.Append(ctx, m))
	}
	require.Zero(t, lookupsOf(db)-before, "per-series lookups after the group was built")
	got := readAll(t, db)
	require.Len(t, got, 5)
	for k, pts := range got {
		require.Len(t, pts, 10, k)
	}
}

// seriesGroupCases are samples appended after the group of x{a="1", b="2"} (and y of the same labels) was
// built; each must reach its own series, never a grouped one of other labels.
var seriesGroupCases = []struct {
	name   string
	sample store.Sample
	series string
}{
	{"grouped", store.Sample{Name: "x", Labels: []store.Label{lb("a", "1"), lb("b", "2")}}, `{__name__="x", a="1", b="2"}`},
	{"other name, same labels", store.Sample{Name: "z", Labels: []store.Label{lb("a", "1"), lb("b", "2")}}, `{__name__="z", a="1", b="2"}`},
	{"other value", store.Sample{Name: "x", Labels: []store.Label{lb("a", "1"), lb("b", "3")}}, `{__name__="x", a="1", b="3"}`},
	{"empty value spelled out", store.Sample{Name: "y", Labels: []store.Label{lb("a", "1"), lb("ab", ""), lb("b", "2")}}, `{__name__="y", a="1", b="2"}`},
	{"unsorted", store.Sample{Name: "y", Labels: []store.Label{lb("b", "2"), lb("a", "1")}}, `{__name__="y", a="1", b="2"}`},
	{"fewer labels", store.Sample{Name: "x", Labels: []store.Label{lb("a", "1")}}, `{__name__="x", a="1"}`},
}

func TestSeriesGroupReachesTheRightSeries(t *testing.T) {
	for _, c := range seriesGroupCases {
		t.Run(c.name, func(t *testing.T) {
			db := openT(t, Config{}, Deps{})
			ctx := context.Background()
			ls := []store.Label{lb("a", "1"), lb("b", "2")}
			for i := range 3 {
				ts := base + int64(i)*1000
				require.NoError(t, db.Append(ctx, []store.Sample{{Name: "x", Labels: ls, T: ts, V: 1}, {Name: "y", Labels: ls, T: ts, V: 2}}))
			}
			s := c.sample
			s.T, s.V = base+10_000, 42
			require.NoError(t, db.Append(ctx, []store.Sample{s}))
			pts := readAll(t, db)[c.series]
			require.NotEmpty(t, pts, c.series)
			require.Equal(t, point{base + 10_000, 42}, pts[len(pts)-1])
		})
	}
}

// TestSeriesGroupCollision plants another label set's group under a message's labels hash: the group must be
// checked against the labels, not trusted for the hash.
func TestSeriesGroupCollision(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	a := message("devA", base, 1)
	b := message("devB", base, 2)
	for i := range 2 {
		require.NoError(t, db.Append(ctx, message("devA", base+int64(i)*1000, 1)))
		require.NoError(t, db.Append(ctx, message("devB", base+int64(i)*1000, 2)))
	}
	shA, _ := seriesHashes(&a[0])
	shB, _ := seriesHashes(&b[0])
	gA := db.shards[shA%numShards].groups[shA]
	require.NotNil(t, gA)
	db.shards[shB%numShards].groups[shB] = gA // b's labels hash now leads to a's group

	b = message("devB", base+5000, 7)
	require.NoError(t, db.Append(ctx, b))
	got := readAll(t, db)
	pts := got[`{__name__="temperature", device="devB", district="d1", site="siteA"}`]
	require.Equal(t, point{base + 5000, 7}, pts[len(pts)-1])
	require.Len(t, got[`{__name__="temperature", device="devA", district="d1", site="siteA"}`], 2)
}
