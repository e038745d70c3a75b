package notify

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// OpenDB opens (creating if needed) a SQLite database file with the settings the outbox is tuned for: WAL
// journal, synchronous=FULL (a committed alert change and its notifications survive a power loss; the outbox
// batches its own writes so the fsync per commit stays affordable), busy_timeout 10s so concurrent writers wait instead of failing, and immediate transactions so a read-then-
// write transaction cannot fail with SQLITE_BUSY midway. The alerts package should share this *sql.DB.
func OpenDB(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("notify: open database: %w", err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("notify: open database: %w", err)
	}
	return db, nil
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS notify_deliveries (
		id               INTEGER PRIMARY KEY AUTOINCREMENT,
		idempotency_key  TEXT    NOT NULL UNIQUE,
		receiver         TEXT    NOT NULL,
		fingerprint      TEXT    NOT NULL,
		alert_name       TEXT    NOT NULL,
		alert_state      TEXT    NOT NULL,
		change_json      TEXT    NOT NULL, -- rendered per receiver format at send time
		status           TEXT    NOT NULL DEFAULT 'pending'
		                 CHECK (status IN ('pending','delivering','delivered','failed','dead')),
		attempts         INTEGER NOT NULL DEFAULT 0,
		next_attempt_at  INTEGER NOT NULL,
		retry_since      INTEGER NOT NULL,
		last_error       TEXT    NOT NULL DEFAULT '',
		last_status_code INTEGER NOT NULL DEFAULT 0,
		created_at       INTEGER NOT NULL,
		updated_at       INTEGER NOT NULL,
		delivered_at     INTEGER
	)`,
	`CREATE INDEX IF NOT EXISTS notify_deliveries_due ON notify_deliveries (receiver, status, next_attempt_at)`,
	`CREATE INDEX IF NOT EXISTS notify_deliveries_order ON notify_deliveries (receiver, fingerprint, id)
		WHERE status IN ('pending','delivering')`,
	`CREATE INDEX IF NOT EXISTS notify_deliveries_status ON notify_deliveries (status, updated_at)`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	for _, s := range schema {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("notify: create schema: %w", err)
		}
	}
	return nil
}
