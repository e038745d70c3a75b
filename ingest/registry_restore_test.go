package ingest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRestoreReadsIndexWithoutSorting: the cold start's registry read walks the last-seen index and sorts
// nothing. The query it replaced sorted every saved row (blobs and all) in a temporary B-tree, a quarter of
// the restore's CPU at 166,667 devices.
func TestRestoreReadsIndexWithoutSorting(t *testing.T) {
	_, s, _ := newDeviceStore(t, filepath.Join(t.TempDir(), "citywatch.db"), PipelineConfig{})
	rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+restoreDevices, 10)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		plan = append(plan, detail)
	}
	require.NoError(t, rows.Err())
	all := strings.Join(plan, "; ")
	require.Contains(t, all, "ingest_devices_last_seen", "the plan walks the last-seen index")
	require.NotContains(t, all, "TEMP B-TREE", "the plan sorts nothing")
}
