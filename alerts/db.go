package alerts

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// migrations are applied in order, each once, recorded in alerts_migrations. Never edit a released one;
// append.
var migrations = []string{
	`CREATE TABLE alerts (
		id               INTEGER PRIMARY KEY AUTOINCREMENT,
		fingerprint      TEXT    NOT NULL,
		rule             TEXT    NOT NULL,
		rule_key         TEXT    NOT NULL,
		rule_group       TEXT    NOT NULL DEFAULT '',
		site             TEXT    NOT NULL DEFAULT '',
		labels           TEXT    NOT NULL,
		annotations      TEXT    NOT NULL,
		state            TEXT    NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
		value            REAL,
		active_at        INTEGER NOT NULL,
		fired_at         INTEGER,
		resolved_at      INTEGER,
		last_eval        INTEGER,
		last_active_at   INTEGER,
		acked_by         TEXT    NOT NULL DEFAULT '',
		acked_at         INTEGER,
		ack_comment      TEXT    NOT NULL DEFAULT '',
		assignee         TEXT    NOT NULL DEFAULT '',
		last_notified_at INTEGER,
		notify_count     INTEGER NOT NULL DEFAULT 0,
		notified_state   TEXT    NOT NULL DEFAULT ''
	);
	CREATE INDEX alerts_state ON alerts (state);
	CREATE INDEX alerts_active_at ON alerts (active_at);
	CREATE INDEX alerts_site ON alerts (site);
	CREATE UNIQUE INDEX alerts_one_active ON alerts (rule_key, fingerprint) WHERE state IN ('pending', 'firing');
	CREATE TABLE silences (
		id         TEXT    PRIMARY KEY,
		matchers   TEXT    NOT NULL,
		starts_at  INTEGER NOT NULL,
		ends_at    INTEGER NOT NULL,
		created_by TEXT    NOT NULL,
		comment    TEXT    NOT NULL,
		created_at INTEGER NOT NULL
	);`,
	`ALTER TABLE alerts ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE alerts ADD COLUMN flap_count INTEGER NOT NULL DEFAULT 0;`,
}

func migrate(ctx context.Context, db *sql.DB, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("alerts: migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS alerts_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("alerts: migrate: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM alerts_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("alerts: migrate: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("alerts: database schema version %d is newer than this binary (%d)", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("alerts: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO alerts_migrations (version, applied_at) VALUES (?, ?)`,
			v, now.UnixMilli()); err != nil {
			return fmt.Errorf("alerts: migration %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("alerts: migrate: %w", err)
	}
	return nil
}

func msOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func timeFromMs(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func floatOrNil(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

func jsonString(m map[string]string) string {
	if m == nil {
		m = map[string]string{}
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

const alertColumns = `id, fingerprint, rule, rule_key, rule_group, labels, annotations, state, value, active_at,
	fired_at, resolved_at, last_eval, last_active_at, acked_by, acked_at, ack_comment, assignee, last_notified_at,
	notify_count, notified_state, flapping, flap_count`

type scanner interface{ Scan(dest ...any) error }

func scanAlert(s scanner) (*Alert, error) {
	var a Alert
	var lbls, anns, state string
	var value sql.NullFloat64
	var activeAt int64
	var fired, resolved, lastEval, lastActive, acked, notified sql.NullInt64
	if err := s.Scan(&a.ID, &a.Fingerprint, &a.Rule, &a.ruleKey, &a.Group, &lbls, &anns, &state, &value,
		&activeAt, &fired, &resolved, &lastEval, &lastActive, &a.AckedBy, &acked, &a.AckComment, &a.Assignee,
		&notified, &a.NotifyCount, &a.NotifiedState, &a.Flapping, &a.FlapCount); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(lbls), &a.Labels); err != nil {
		return nil, fmt.Errorf("alert %d labels: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(anns), &a.Annotations); err != nil {
		return nil, fmt.Errorf("alert %d annotations: %w", a.ID, err)
	}
	a.State = State(state)
	a.Value = math.NaN()
	if value.Valid {
		a.Value = value.Float64
	}
	a.ActiveAt = time.UnixMilli(activeAt).UTC()
	a.FiredAt, a.ResolvedAt, a.LastEval = timeFromMs(fired), timeFromMs(resolved), timeFromMs(lastEval)
	a.lastActiveAt, a.AckedAt, a.LastNotifiedAt = timeFromMs(lastActive), timeFromMs(acked), timeFromMs(notified)
	return &a, nil
}

// saveAlert inserts a (ID 0) or updates it, inside tx.
func saveAlert(ctx context.Context, tx *sql.Tx, a *Alert) error {
	args := []any{a.Fingerprint, a.Rule, a.ruleKey, a.Group, a.Labels["site"], jsonString(a.Labels),
		jsonString(a.Annotations), string(a.State), floatOrNil(a.Value), a.ActiveAt.UnixMilli(), msOrNil(a.FiredAt),
		msOrNil(a.ResolvedAt), msOrNil(a.LastEval), msOrNil(a.lastActiveAt), a.AckedBy, msOrNil(a.AckedAt),
		a.AckComment, a.Assignee, msOrNil(a.LastNotifiedAt), a.NotifyCount, a.NotifiedState, a.Flapping, a.FlapCount}
	if a.ID == 0 {
		res, err := tx.ExecContext(ctx, `INSERT INTO alerts (fingerprint, rule, rule_key, rule_group, site, labels,
			annotations, state, value, active_at, fired_at, resolved_at, last_eval, last_active_at, acked_by,
			acked_at, ack_comment, assignee, last_notified_at, notify_count, notified_state, flapping, flap_count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		if err != nil {
			return fmt.Errorf("insert alert: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("insert alert: %w", err)
		}
		a.ID = id
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE alerts SET fingerprint = ?, rule = ?, rule_key = ?, rule_group = ?,
		site = ?, labels = ?, annotations = ?, state = ?, value = ?, active_at = ?, fired_at = ?, resolved_at = ?,
		last_eval = ?, last_active_at = ?, acked_by = ?, acked_at = ?, ack_comment = ?, assignee = ?,
		last_notified_at = ?, notify_count = ?, notified_state = ?, flapping = ?, flap_count = ? WHERE id = ?`, append(args, a.ID)...)
	if err != nil {
		return fmt.Errorf("update alert %d: %w", a.ID, err)
	}
	return nil
}

// loadActive returns the pending and firing alerts, and the resolved ones whose resolution is still to be
// notified.
func loadActive(ctx context.Context, db *sql.DB) ([]*Alert, error) {
	return selectAlerts(ctx, db, "load", `SELECT `+alertColumns+` FROM alerts
		WHERE state IN ('pending', 'firing') OR (state = 'resolved' AND notified_state = 'firing') ORDER BY id`)
}

// selectAlerts runs query q, which selects alertColumns, and scans every row; op names the operation in errors.
func selectAlerts(ctx context.Context, db *sql.DB, op, q string, args ...any) ([]*Alert, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("alerts: %s: %w", op, err)
	}
	defer rows.Close()
	var out []*Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("alerts: %s: %w", op, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alerts: %s: %w", op, err)
	}
	return out, nil
}

func queryAlerts(ctx context.Context, db *sql.DB, f AlertFilter) ([]*Alert, error) {
	var where []string
	var args []any
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, string(f.State))
	}
	if f.Site != "" {
		where = append(where, "site = ?")
		args = append(args, f.Site)
	}
	if !f.Since.IsZero() {
		where = append(where, "(resolved_at IS NULL OR resolved_at >= ?)")
		args = append(args, f.Since.UnixMilli())
	}
	q := `SELECT ` + alertColumns + ` FROM alerts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY active_at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit)
	return selectAlerts(ctx, db, "query", q, args...)
}

func loadSilences(ctx context.Context, db *sql.DB) ([]*Silence, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, matchers, starts_at, ends_at, created_by, comment, created_at
		FROM silences ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("alerts: load silences: %w", err)
	}
	defer rows.Close()
	var out []*Silence
	for rows.Next() {
		var s Silence
		var ms string
		var start, end, created int64
		if err := rows.Scan(&s.ID, &ms, &start, &end, &s.CreatedBy, &s.Comment, &created); err != nil {
			return nil, fmt.Errorf("alerts: load silences: %w", err)
		}
		if err := json.Unmarshal([]byte(ms), &s.Matchers); err != nil {
			return nil, fmt.Errorf("alerts: silence %s: %w", s.ID, err)
		}
		c, err := compileMatchers(s.Matchers)
		if err != nil {
			return nil, fmt.Errorf("alerts: silence %s: %w", s.ID, err)
		}
		s.compiled = c
		s.StartsAt, s.EndsAt = time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC()
		s.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, &s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alerts: load silences: %w", err)
	}
	return out, nil
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
