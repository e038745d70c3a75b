package tsdb

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// hinted returns the 5 samples of one sensor message on labels ls, carrying hint h.
func hinted(ls []store.Label, h *store.SeriesHint, t int64, v float64) []store.Sample {
	names := []string{"temperature", "humidity", "co2", "pm25", "noise"}
	out := make([]store.Sample, len(names))
	for i, n := range names {
		out[i] = store.Sample{Name: n, Labels: ls, T: t, V: v + float64(i), Hint: h}
	}
	return out
}

// TestSeriesHintSparesGroupLookup: once a hint holds its label set's group, the next messages that carry it
// find their series without a group lookup, and are stored as without a hint.
func TestSeriesHintSparesGroupLookup(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	ls := lbls("district", "d1", "site", "siteA", "device", "s1")
	var h store.SeriesHint
	for i := range 3 {
		require.NoError(t, db.Append(ctx, hinted(ls, &h, base+int64(i)*1000, float64(10*i))))
	}
	require.NotNil(t, h.Load(), "the hint holds the group")
	before := groupLookups(db)
	for i := 3; i < 10; i++ {
		require.NoError(t, db.Append(ctx, hinted(ls, &h, base+int64(i)*1000, float64(10*i))))
	}
	require.Equal(t, before, groupLookups(db), "hinted messages look up no group")
	got := readAll(t, db)
	require.Len(t, got, 5)
	require.Len(t, got[`{__name__="co2", device="s1", district="d1", site="siteA"}`], 10)
	require.Equal(t, point{base + 9000, 92}, got[`{__name__="co2", device="s1", district="d1", site="siteA"}`][9])
}

// TestSeriesHintFromFirstMessage: the message that creates a label set's series already leaves their group
// in its hint, so the second message of a new device (all a fleet sends before its series are steady) finds
// its series without a group or series lookup.
func TestSeriesHintFromFirstMessage(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	ls := lbls("district", "d1", "site", "siteA", "device", "s1")
	var h store.SeriesHint
	require.NoError(t, db.Append(ctx, hinted(ls, &h, base, 0)))
	require.NotNil(t, h.Load(), "the first message's hint holds the group")
	groups, lookups := groupLookups(db), lookupsOf(db)
	require.NoError(t, db.Append(ctx, hinted(ls, &h, base+1000, 10)))
	require.Equal(t, groups, groupLookups(db), "the second message looks up no group")
	require.Equal(t, lookups, lookupsOf(db), "the second message looks up no series")
	got := readAll(t, db)
	require.Len(t, got, 5)
	require.Equal(t, []point{{base, 2}, {base + 1000, 12}}, got[`{__name__="co2", device="s1", district="d1", site="siteA"}`])
}

// hintMisuseCases give a hint where it does not belong, or after what it points to changed. In every case the
// samples must be stored in their own series and nowhere else: a hint is only ever a shortcut.
var hintMisuseCases = []struct {
	name string
	// misuse appends to db (which a hint for labels a already points into) the message it checks, and returns
	// the database to read and the labels the message must be stored under.
	misuse func(t *testing.T, db *DB, a []store.Label, h *store.SeriesHint) (*DB, []store.Label)
}{
	{"another labels slice", func(t *testing.T, db *DB, _ []store.Label, h *store.SeriesHint) (*DB, []store.Label) {
		b := lbls("district", "d1", "site", "siteA", "device", "s2")
		require.NoError(t, db.Append(context.Background(), hinted(b, h, base+5000, 500)))
		return db, b
	}},
	{"an equal labels slice that is not the hint's", func(t *testing.T, db *DB, a []store.Label, h *store.SeriesHint) (*DB, []store.Label) {
		b := append([]store.Label(nil), a...)
		require.NoError(t, db.Append(context.Background(), hinted(b, h, base+5000, 500)))
		return db, b
	}},
	{"another database whose head references name other series", func(t *testing.T, _ *DB, a []store.Label, h *store.SeriesHint) (*DB, []store.Label) {
		other := openT(t, Config{}, Deps{})
		// The other database's first head references go to another device's series.
		require.NoError(t, other.Append(context.Background(), hinted(lbls("device", "x"), nil, base, 0)))
		require.NoError(t, other.Append(context.Background(), hinted(a, h, base+5000, 500)))
		return other, a
	}},
	{"after the cache generation turned over", func(t *testing.T, db *DB, a []store.Label, h *store.SeriesHint) (*DB, []store.Label) {
		for range 2 {
			for i := range db.shards {
				db.shards[i].rotated = time.Now().Add(-2 * cacheGeneration)
			}
			require.NoError(t, db.Append(context.Background(), hinted(lbls("device", "y"), nil, base+4000, 0)))
		}
		require.NoError(t, db.Append(context.Background(), hinted(a, h, base+5000, 500)))
		return db, a
	}},
	{"after the series were deleted", func(t *testing.T, db *DB, a []store.Label, h *store.SeriesHint) (*DB, []store.Label) {
		n, err := db.DeleteSeries(context.Background(), labels.MustNewMatcher(labels.MatchEqual, "device", "s1"))
		require.NoError(t, err)
		require.Equal(t, 5, n)
		require.NoError(t, db.Append(context.Background(), hinted(a, h, base+5000, 500)))
		return db, a
	}},
}

func TestSeriesHintNeverMisdirects(t *testing.T) {
	for _, c := range hintMisuseCases {
		t.Run(c.name, func(t *testing.T) {
			db := openT(t, Config{}, Deps{})
			a := lbls("district", "d1", "site", "siteA", "device", "s1")
			var h store.SeriesHint
			for i := range 3 {
				require.NoError(t, db.Append(context.Background(), hinted(a, &h, base+int64(i)*1000, float64(i))))
			}
			require.NotNil(t, h.Load())
			read, want := c.misuse(t, db, a, &h)
			got := readAll(t, read)
			found := 0
			for _, pts := range got {
				for _, p := range pts {
					if p.T == base+5000 {
						found++
					}
				}
			}
			require.Equal(t, 5, found, "the message's 5 samples stored once each: %v", got)
			for _, s := range hinted(want, nil, base+5000, 500) {
				require.Contains(t, got[labelsString(s)], point{base + 5000, s.V}, "in its own series %s", labelsString(s))
			}
		})
	}
}

// labelsString renders a sample's series as readAll keys it.
func labelsString(s store.Sample) string {
	b := labels.NewBuilder(labels.EmptyLabels())
	b.Set(labels.MetricName, s.Name)
	for _, l := range s.Labels {
		b.Set(l.Name, l.Value)
	}
	return b.Labels().String()
}
