package tsdb

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

func lb(name, value string) store.Label { return store.Label{Name: name, Value: value} }

// matchCases are samples checked against the cached series x{a="1", b="2"}.
var matchCases = []struct {
	name   string
	sample store.Sample
	want   bool
}{
	{"same", store.Sample{Name: "x", Labels: []store.Label{lb("a", "1"), lb("b", "2")}}, true},
	{"empty values are no labels", store.Sample{Name: "x", Labels: []store.Label{lb("0", ""), lb("a", "1"), lb("ab", ""), lb("b", "2"), lb("c", "")}}, true},
	{"other name", store.Sample{Name: "y", Labels: []store.Label{lb("a", "1"), lb("b", "2")}}, false},
	{"other value", store.Sample{Name: "x", Labels: []store.Label{lb("a", "1"), lb("b", "3")}}, false},
	{"missing label", store.Sample{Name: "x", Labels: []store.Label{lb("a", "1")}}, false},
	{"extra label", store.Sample{Name: "x", Labels: []store.Label{lb("a", "1"), lb("b", "2"), lb("c", "3")}}, false},
	{"unsorted", store.Sample{Name: "x", Labels: []store.Label{lb("b", "2"), lb("a", "1")}}, false},
	{"repeated", store.Sample{Name: "x", Labels: []store.Label{lb("a", "1"), lb("a", "1")}}, false},
	{"__name__ as a label", store.Sample{Name: "x", Labels: []store.Label{lb("__name__", "x"), lb("a", "1"), lb("b", "2")}}, false},
	{"no labels", store.Sample{Name: "x"}, false},
}

func TestSeriesEntryMatches(t *testing.T) {
	e := newSeriesEntry(labels.FromStrings("__name__", "x", "a", "1", "b", "2"))
	for _, c := range matchCases {
		t.Run(c.name, func(t *testing.T) {
			s := c.sample
			require.Equal(t, c.want, e.matches(&s))
		})
	}
	// Labels that sort before __name__ (upper case) are matched where the label set keeps them.
	up := newSeriesEntry(labels.FromStrings("__name__", "x", "A", "1", "b", "2"))
	require.True(t, up.matches(&store.Sample{Name: "x", Labels: []store.Label{lb("A", "1"), lb("b", "2")}}))
}

// TestSeriesCacheUnsortedSpelling: a sample whose labels are not sorted misses the fast match every time; it must
// still reach its series and must not add a cache entry per message.
func TestSeriesCacheUnsortedSpelling(t *testing.T) {
	db, err := Open(Config{Dir: t.TempDir()}, Deps{})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	for i := range 50 {
		s := store.Sample{Name: "x", Labels: []store.Label{lb("b", "2"), lb("a", "1")}, T: int64(1000 + i), V: float64(i)}
		require.NoError(t, db.Append(ctx, []store.Sample{s}))
		s.Labels = []store.Label{lb("a", "1"), lb("b", "2")}
		s.T += 1000
		require.NoError(t, db.Append(ctx, []store.Sample{s}))
	}
	entries := 0
	for i := range db.shards {
		for _, e := range db.shards[i].cur {
			for ; e != nil; e = e.next {
				entries++
			}
		}
	}
	require.LessOrEqual(t, entries, 2, "one entry per spelling at most")
	require.Equal(t, uint64(1), db.db.Head().NumSeries())
}

// TestSeriesCachePromotionMoves: after the cache's generation turns over, a series appended again moves its
// entry to the current generation instead of copying it (a copy held every active series twice for an hour
// after each rotation), and a chain of colliding entries stays intact.
func TestSeriesCachePromotionMoves(t *testing.T) {
	var sh shard
	sh.init(time.Unix(0, 0))
	a := newSeriesEntry(labels.FromStrings("__name__", "x", "a", "1"))
	b := newSeriesEntry(labels.FromStrings("__name__", "x", "a", "2"))
	c := newSeriesEntry(labels.FromStrings("__name__", "x", "a", "3"))
	for _, e := range []*seriesEntry{a, b, c} {
		sh.insert(7, e) // one hash for all three: a chain c → b → a
	}
	sh.maybeRotate(time.Unix(0, 0).Add(cacheGeneration))
	smp := func(v string) *store.Sample { return &store.Sample{Name: "x", Labels: []store.Label{lb("a", v)}} }

	allocs := testing.AllocsPerRun(1, func() {
		require.Same(t, b, sh.lookup(7, smp("2")), "the middle of the chain")
	})
	require.Zero(t, allocs, "promotion allocates nothing")
	require.Same(t, a, sh.lookup(7, smp("1")), "the end of the chain")
	require.Same(t, c, sh.lookup(7, smp("3")), "the head of the chain")
	require.Nil(t, sh.prev[7], "nothing is left behind in the previous generation")
	for _, v := range []string{"1", "2", "3"} {
		e := sh.lookup(7, smp(v))
		require.NotNil(t, e, v)
		n := 0
		for x := sh.cur[7]; x != nil; x = x.next {
			n++
		}
		require.Equal(t, 3, n, "each series once in the current generation")
	}
}
