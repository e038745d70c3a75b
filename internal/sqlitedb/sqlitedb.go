// Package sqlitedb opens citywatch's metadata database (users, tokens, sessions, audit, alerts, the
// notification outbox): one SQLite file shared by those packages, so an alert change and its notifications
// commit in one transaction.
package sqlitedb

import (
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// Open opens (creating if needed) the SQLite database at path: WAL journal; synchronous=FULL, so a committed
// alert change and its notifications survive a power loss (the outbox batches its writes so the fsync per
// commit stays affordable); a 10 s busy timeout so concurrent writers wait instead of failing; foreign keys on;
// and IMMEDIATE transactions, so a read-then-write transaction cannot fail with SQLITE_BUSY midway.
func Open(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	// The path goes into a URI: escape what would end it early ("?", "#") or read as an escape ("%").
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+escaped+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}
