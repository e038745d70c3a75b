package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// heartbeatSchema is the one-row table Probe writes. It is created on first use, in the probe's transaction.
const heartbeatSchema = `CREATE TABLE IF NOT EXISTS readiness_heartbeat (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	at_ms INTEGER NOT NULL
)`

// Probe reports whether db can take writes now: it commits an upsert of one row in a small heartbeat table,
// through the same write lock, WAL append and fsync that a token creation or an alert change needs. A full
// disk, a read-only or vanished file, or a write lock held past ctx's deadline is an error. Readiness checks
// call it; they should cache its result, since each call is a durable commit.
func Probe(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("metadata database: begin write: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if _, err := tx.ExecContext(ctx, heartbeatSchema); err != nil {
		return fmt.Errorf("metadata database: create heartbeat table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO readiness_heartbeat (id, at_ms) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms`, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("metadata database: write heartbeat: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("metadata database: commit heartbeat: %w", err)
	}
	return nil
}
