// Package sqlitedb opens citywatch's metadata database (users, tokens, sessions, audit, alerts, the
// notification outbox): one SQLite file shared by those packages, so an alert change and its notifications
// commit in one transaction.
package sqlitedb

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// FileMode is the permission of the database file and its -wal and -shm files: the database holds users,
// password hashes, sessions and the audit trail, so only citywatch's own user may read it.
const FileMode fs.FileMode = 0o600

// Pool bounds. SQLite in WAL mode runs one writer at a time (our transactions are IMMEDIATE, so writers queue
// on the write lock and more writer connections only add waiters) while readers read a snapshot alongside it.
// MaxConns connections let a few slow reads (an audit export, a long alert list) proceed next to the writer
// on the two to four cores of an edge box; more would not add throughput, only descriptors and page caches.
// Requests beyond it wait for a connection (bounded by their context) instead of opening one each: without
// the bound, 2,000 clients opened 2,000 connections, and SQLite cannot close a connection's descriptors while
// any other connection of the process holds a lock on the file (closing would drop that connection's POSIX
// locks), so they stayed open after the clients left.
const (
	// MaxConns is the most connections the pool opens; every one is kept when idle (MaxIdleConns =
	// MaxConns), since closing one returns no descriptor while the others are open (see above) and reopening
	// repeats the pragmas.
	MaxConns = 8
	// ConnMaxIdleTime closes a connection idle this long, so after a burst the pool shrinks and frees the
	// connections' page caches; the descriptors SQLite keeps for reuse stay bounded by MaxConns.
	ConnMaxIdleTime = 5 * time.Minute
)

// Open opens (creating if needed) the SQLite database at path: WAL journal; synchronous=FULL, so a committed
// alert change and its notifications survive a power loss (the outbox batches its writes so the fsync per
// commit stays affordable); secure_delete, so deleted data are zeroed in the file; a 10 s busy timeout so concurrent writers wait instead of failing; foreign keys on;
// IMMEDIATE transactions, so a read-then-write transaction cannot fail with SQLITE_BUSY midway; a pool of at
// most MaxConns connections; and files readable by their owner only (FileMode), set on create and tightened
// on open.
//
// Code must not hold a connection (an open transaction or unclosed rows) while it asks the pool for another:
// with MaxConns such callers at once the pool would be exhausted.
func Open(path string) (*sql.DB, error) {
	if err := restrictFiles(path); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// Deleted rows are overwritten with zeros, not left in free pages: retention by purpose deletes personal
	// data, and they must not survive in the file (see package retention).
	q.Add("_pragma", "secure_delete(ON)")
	q.Set("_txlock", "immediate")
	// The path goes into a URI: escape what would end it early ("?", "#") or read as an escape ("%").
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+escaped+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(MaxConns)
	db.SetConnMaxIdleTime(ConnMaxIdleTime)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}

// restrictFiles creates the database file with FileMode if it is missing, so SQLite (which gives the -wal and
// -shm files the database file's permissions) never creates anything wider, and tightens the database and
// any existing -wal and -shm files left by older versions, which created them 0644.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, FileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restrict permissions: %w", err)
		}
	}
	return nil
}
