package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dbDescriptors counts this process's open file descriptors on the database at path and its -wal and -shm
// files, by reading the /proc/self/fd links.
func dbDescriptors(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no /proc/self/fd (CI runs on Linux, where it must exist): %v", err)
		}
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // closed since ReadDir
		}
		target = strings.TrimSuffix(target, " (deleted)")
		if target == path || target == path+"-wal" || target == path+"-shm" {
			n++
		}
	}
	return n
}

// maxDescriptors is how many descriptors a pool of MaxConns connections may hold on the database files: the
// database and WAL file per connection, and the shared memory file, with room for SQLite keeping a closed
// connection's descriptor until it can be reused (it cannot close it while others hold locks on the file).
const maxDescriptors = 3*MaxConns + 1

// TestDescriptorsBounded reproduces the descriptors left on citywatch.db after a burst of users (1,962 seen
// after heavy query load plus 2,000 SSE clients): 200 concurrent users, readers and writers, must never hold
// more than the pool's bound of descriptors on the database files, during the burst or after it.
func TestDescriptorsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "citywatch.db")
	db, err := Open(path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE hits (id INTEGER PRIMARY KEY, who TEXT NOT NULL)`)
	require.NoError(t, err)

	const users = 200
	ctx := context.Background()
	start := make(chan struct{})
	errs := make(chan error, users)
	var wg sync.WaitGroup
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := range 5 {
				if err := oneUser(ctx, db, fmt.Sprintf("user%d-%d", i, j), i%4 == 0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	close(start)
	peak := 0
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(5 * time.Millisecond):
		}
		peak = max(peak, dbDescriptors(t, path))
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.LessOrEqual(t, peak, maxDescriptors, "descriptors on the database files during the burst")
	require.LessOrEqual(t, dbDescriptors(t, path), maxDescriptors, "descriptors on the database files after the burst")
	require.LessOrEqual(t, db.Stats().OpenConnections, MaxConns)
}

// oneUser is one request's worth of database work: a write transaction, or a read of a long list.
func oneUser(ctx context.Context, db *sql.DB, who string, write bool) error {
	if write {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // no-op after commit
		if _, err := tx.ExecContext(ctx, `INSERT INTO hits (who) VALUES (?)`, who); err != nil {
			return err
		}
		return tx.Commit()
	}
	rows, err := db.QueryContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 200)
		SELECT i, (SELECT count(*) FROM hits) FROM n`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}
