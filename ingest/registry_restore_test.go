package ingest

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// legacyDeviceSchema is the per-device table of the releases before the buckets, as they created it.
const legacyDeviceSchema = `
CREATE TABLE IF NOT EXISTS ingest_devices (
	id            TEXT PRIMARY KEY,
	labels        BLOB NOT NULL,
	first_seen_ns INTEGER NOT NULL,
	last_seen_ns  INTEGER NOT NULL,
	messages      INTEGER NOT NULL,
	errors        INTEGER NOT NULL,
	last_values   BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_devices_last_seen ON ingest_devices(last_seen_ns);
`

// writeLegacyDevices writes n devices into the per-device table as the releases before the buckets did:
// device i first seen at t0 + i s, last seen an hour later, with i+1 messages, i errors and two last values.
func writeLegacyDevices(t *testing.T, s *DeviceStore, n int) {
	t.Helper()
	_, err := s.db.Exec(legacyDeviceSchema)
	require.NoError(t, err)
	for i := range n {
		id := fmt.Sprintf("d1/s%d/dev%d", i%3, i)
		ls := []store.Label{{Name: "device", Value: fmt.Sprintf("dev%d", i)}, {Name: "district", Value: "d1"},
			{Name: "site", Value: fmt.Sprintf("s%d", i%3)}}
		first := t0.Add(time.Duration(i) * time.Second)
		_, err := s.db.Exec(`INSERT INTO ingest_devices VALUES (?, ?, ?, ?, ?, ?, ?)`, id, encodeLabels(nil, ls),
			first.UnixNano(), first.Add(time.Hour).UnixNano(), i+1, i,
			encodeValues(nil, []lastValue{{"a", float64(i)}, {"b", math.Inf(1)}}))
		require.NoError(t, err)
	}
}

// TestDeviceStoreMigratesPerDeviceTable: a data directory of a release that saved one row per device keeps
// first seen, last seen, counts, labels and last values over the upgrade; the per-device table is gone
// after the first start, and a second restart restores the same from the buckets.
func TestDeviceStoreMigratesPerDeviceTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "citywatch.db")
	ctx := context.Background()
	_, s, _ := newDeviceStore(t, path, PipelineConfig{})
	const n = 50
	writeLegacyDevices(t, s, n)

	check := func(p *Pipeline) {
		t.Helper()
		got := p.Devices()
		require.Len(t, got, n)
		for _, d := range got {
			var i int
			_, err := fmt.Sscanf(d.ID[strings.LastIndex(d.ID, "/")+1:], "dev%d", &i)
			require.NoError(t, err)
			first := t0.Add(time.Duration(i) * time.Second)
			assert.Equal(t, first.UTC(), d.FirstSeen, d.ID)
			assert.Equal(t, first.Add(time.Hour).UTC(), d.LastSeen, d.ID)
			assert.Equal(t, uint64(i+1), d.Messages, d.ID)
			assert.Equal(t, uint64(i), d.Errors, d.ID)
			assert.Equal(t, map[string]string{"device": fmt.Sprintf("dev%d", i), "district": "d1",
				"site": fmt.Sprintf("s%d", i%3)}, d.Labels, d.ID)
			assert.Equal(t, float64(i), d.LastValues["a"], d.ID)
			assert.True(t, math.IsInf(d.LastValues["b"], 1), d.ID)
		}
	}
	p1, s1, _ := newDeviceStore(t, path, PipelineConfig{})
	got, err := s1.Restore(ctx)
	require.NoError(t, err)
	require.Equal(t, n, got)
	check(p1)
	legacy, err := s1.hasLegacyTable(ctx)
	require.NoError(t, err)
	require.False(t, legacy, "the per-device table is dropped once its devices are in buckets")

	p2, s2, _ := newDeviceStore(t, path, PipelineConfig{})
	got, err = s2.Restore(ctx)
	require.NoError(t, err)
	require.Equal(t, n, got)
	check(p2)
}

// TestRestoreReadsLegacyIndexWithoutSorting: the migration's read of the per-device table walks its last-seen
// index and sorts nothing. A query that sorted every row (blobs and all) in a temporary B-tree took a quarter of
// the restore's CPU at 166,667 devices.
func TestRestoreReadsLegacyIndexWithoutSorting(t *testing.T) {
	_, s, _ := newDeviceStore(t, filepath.Join(t.TempDir(), "citywatch.db"), PipelineConfig{})
	_, err := s.db.Exec(legacyDeviceSchema)
	require.NoError(t, err)
	rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+restoreLegacyDevices, 10)
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
