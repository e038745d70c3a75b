package tsdb

import (
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// TestBatchHashesMatchSeriesHashes: getBatch hashes the labels a message's samples share once, and must still
// give every sample the shard and labels hash seriesHashes gives it alone, whether samples share a labels
// slice, have equal labels in separate slices, or differ.
func TestBatchHashesMatchSeriesHashes(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	shared := lbls("device", "a", "site", "s1")
	samples := []store.Sample{
		{Name: "temperature", Labels: shared},
		{Name: "humidity", Labels: shared},
		{Name: "co2", Labels: lbls("device", "a", "site", "s1")},
		{Name: "co2", Labels: lbls("device", "b", "site", "s1")},
		{Name: "noise", Labels: nil},
		{Name: "noise", Labels: shared},
	}
	b := db.getBatch(samples)
	defer db.putBatch(b)
	for i := range samples {
		sh, _ := seriesHashes(&samples[i])
		require.Equal(t, sh, b.labelHashes[i], "labels hash of sample %d", i)
		require.Equal(t, uint8(sh%numShards), b.shardOf[i], "shard of sample %d", i)
	}
}
