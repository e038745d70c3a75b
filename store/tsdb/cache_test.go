package tsdb

import (
	"context"
	"testing"

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
