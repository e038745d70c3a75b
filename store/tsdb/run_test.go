package tsdb

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// TestLongRunsOfOneCall: a call with several long runs (many series at one timestamp, then at the next) keeps
// the duplicate check of each run to that run: a series of an earlier run is no duplicate in the next, even
// where the earlier run's index of it lies beyond the current run.
func TestLongRunsOfOneCall(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	var ss []store.Sample
	for i := range 50 {
		ss = append(ss, store.Sample{Name: "m", Labels: lbls("i", strconv.Itoa(i)), T: base, V: float64(i)})
	}
	for i := 10; i < 50; i++ {
		ss = append(ss, store.Sample{Name: "m", Labels: lbls("i", strconv.Itoa(i)), T: base + 1000, V: float64(i + 100)})
	}
	ss = append(ss, store.Sample{Name: "m", Labels: lbls("i", "45"), T: base + 1000, V: 0}) // a duplicate in run 2
	err := db.Append(context.Background(), ss)
	requireOneDuplicate(t, err)
	got := readAll(t, db)
	require.Len(t, got, 50)
	require.Equal(t, []point{{base, 49}, {base + 1000, 149}}, got[`{__name__="m", i="49"}`])
	require.Equal(t, []point{{base, 45}, {base + 1000, 145}}, got[`{__name__="m", i="45"}`])
}
