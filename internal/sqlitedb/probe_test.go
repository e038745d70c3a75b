package sqlitedb

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProbe: a writable database passes (again and again, one row); a closed database and a write lock held
// by someone else past the probe's deadline fail.
func TestProbe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "citywatch.db")
	db, err := Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	for range 3 {
		require.NoError(t, Probe(ctx, db))
	}
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM readiness_heartbeat`).Scan(&n))
	require.Equal(t, 1, n)

	// Another process holds the write lock (an IMMEDIATE transaction takes it at BEGIN).
	other, err := Open(path)
	require.NoError(t, err)
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	require.Error(t, Probe(short, db), "a held write lock")
	require.NoError(t, tx.Rollback())
	require.NoError(t, Probe(ctx, db))

	require.NoError(t, db.Close())
	require.Error(t, Probe(ctx, db), "a closed database")
}
