package notify

import (
	"context"
	"database/sql"
	"fmt"

	"citywatch/internal/sqlitedb"
)

// OpenDB opens (creating if needed) the database the outbox keeps its table in; the alerts package shares the
// same *sql.DB. See sqlitedb.Open for its settings.
func OpenDB(path string) (*sql.DB, error) { return sqlitedb.Open(path) }

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
