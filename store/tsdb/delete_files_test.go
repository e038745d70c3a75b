package tsdb

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// TestDeleteSeriesLeavesNothing: after DeleteSeries and CleanTombstones the deleted label value is gone from
// everything the TSDB answers (the series API's metadata lookup, label values) and from every persisted
// block's files, symbol table included — for a series persisted in a block and for one still in the head
// (a purge soon after release). Other series keep their samples and their label values.
func TestDeleteSeriesLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		persist bool // the series are compacted into a block before the delete
	}{
		{"in a block", true},
		{"in the head", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openT(t, Config{}, Deps{})
			ctx := context.Background()
			info := func(site, caseID string) []store.Sample {
				var ss []store.Sample
				for i := range 10 {
					ss = append(ss, store.Sample{Name: "ward_occupant_info", Labels: lbls("site", site, "case_id", caseID, "device", "w-"+caseID),
						T: base + int64(i)*1000, V: 1})
				}
				return ss
			}
			for _, s := range [][2]string{{"a", "Q-SECRET-1"}, {"a", "Q-2"}, {"b", "Q-OTHER"}} {
				require.NoError(t, db.Append(ctx, info(s[0], s[1])))
			}
			if tc.persist {
				require.NoError(t, db.db.CompactHead(promtsdb.NewRangeHead(db.db.Head(), base, base+10_000)))
				require.Len(t, db.db.Blocks(), 1)
				require.NotEmpty(t, filesWith(t, db.Dir(), "Q-SECRET-1"), "the check must see the value in the block's files")
			}
			require.Contains(t, labelValues(t, db, "case_id"), "Q-SECRET-1", "the check must see the value")

			n, err := db.DeleteSeries(ctx, labels.MustNewMatcher(labels.MatchEqual, "site", "a"),
				labels.MustNewMatcher(labels.MatchEqual, "case_id", "Q-SECRET-1"))
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			require.NoError(t, db.CleanTombstones())

			secret := labels.MustNewMatcher(labels.MatchEqual, "case_id", "Q-SECRET-1")
			assert.Empty(t, seriesMeta(t, db, secret), "the series API's lookup")
			assert.NotContains(t, labelValues(t, db, "case_id"), "Q-SECRET-1", "label values")
			assert.NotContains(t, labelValues(t, db, "device"), "w-Q-SECRET-1", "label values of the deleted series' other labels")
			assert.Empty(t, blockFilesWith(t, db, "Q-SECRET-1", "w-Q-SECRET-1"), "no persisted block holds the value, symbol table included")
			assert.ElementsMatch(t, []string{"Q-2", "Q-OTHER"}, labelValues(t, db, "case_id"))
			assert.Len(t, readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "ward_occupant_info")), 2,
				"the other series keep their samples")
		})
	}
}

// seriesMeta is what /api/v1/series asks of the TSDB: the label sets of the matching series, without samples.
func seriesMeta(t *testing.T, db *DB, ms ...*labels.Matcher) []labels.Labels {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	set := q.Select(context.Background(), false, &storage.SelectHints{Start: math.MinInt64, End: math.MaxInt64, Func: "series"}, ms...)
	var out []labels.Labels
	for set.Next() {
		out = append(out, set.At().Labels())
	}
	require.NoError(t, set.Err())
	return out
}

// labelValues is what /api/v1/label/{name}/values asks of the TSDB.
func labelValues(t *testing.T, db *DB, name string) []string {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	vals, _, err := q.LabelValues(context.Background(), name, nil)
	require.NoError(t, err)
	return vals
}

// blockFilesWith names the files of the persisted blocks that hold one of words.
func blockFilesWith(t *testing.T, db *DB, words ...string) []string {
	t.Helper()
	var out []string
	for _, b := range db.db.Blocks() {
		out = append(out, filesWith(t, b.Dir(), words...)...)
	}
	return out
}

// filesWith names the files under dir that hold one of words.
func filesWith(t *testing.T, dir string, words ...string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				out = append(out, path+" has "+w)
			}
		}
		return nil
	}))
	return out
}
