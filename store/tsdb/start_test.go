package tsdb

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestStartMethodsWaitForTheOpen uses what Start returned at once, as app does while the write-ahead log
// replays: the querier waits for the replay and reads every sample written before the restart.
func TestStartMethodsWaitForTheOpen(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Config{Dir: dir}, Deps{})
	require.NoError(t, err)
	for i := range 200 {
		require.NoError(t, db.Append(context.Background(), message("s1", base+int64(i)*1000, float64(i))))
	}
	want := readAll(t, db)
	require.NoError(t, db.Close())

	db2, err := Start(Config{Dir: dir}, Deps{Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db2.Close() })
	require.Equal(t, want, readAll(t, db2))
	require.EqualValues(t, 5, db2.HeadSeries())
	require.NoError(t, db2.Append(context.Background(), message("s1", base+200_000, 200)))
	require.NoError(t, db2.WaitOpen())
}

// TestStartDirInUseFailsAtOnce: a second process on the same directory fails in Start, before anything of the
// directory is read, as it does in Open.
func TestStartDirInUseFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	openT(t, Config{Dir: dir}, Deps{})
	_, err := Start(Config{Dir: dir}, Deps{})
	require.ErrorIs(t, err, ErrDirInUse)
}

// TestStartFailedOpen: an open that fails in the background is WaitOpen's error; the DB is then closed, its
// directory released and its metrics unregistered, so that the caller can report the error and a fixed
// directory opens again in the same process.
func TestStartFailedOpen(t *testing.T) {
	dir := t.TempDir()
	wal := filepath.Join(dir, "wal") // a file where the write-ahead log's directory belongs
	require.NoError(t, os.WriteFile(wal, []byte("x"), 0o600))
	reg := prometheus.NewRegistry()

	db, err := Start(Config{Dir: dir}, Deps{Registerer: reg})
	require.NoError(t, err)
	require.Error(t, db.WaitOpen())
	require.NoError(t, db.Close())
	_, err = db.Querier(0, 1)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, db.Append(context.Background(), message("x", base, 1)), ErrClosed)

	require.NoError(t, os.Remove(wal))
	db2 := openT(t, Config{Dir: dir}, Deps{Registerer: reg})
	require.NoError(t, db2.Append(context.Background(), message("x", base, 1)))
}
