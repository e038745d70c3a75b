// Package audit keeps citywatch's audit trail: who logged in, watched which camera, acknowledged which alert,
// changed which rule, user or token, from where and whether it worked. Records live in SQLite next to the rest
// of the metadata and are served to admins as JSON or CSV.
package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// Action names what was done. Auth records the login, logout, user and token actions itself; the HTTP handlers
// record the others.
type Action = string

// The audited actions.
const (
	LoginSuccess    Action = "login_success"
	LoginFailure    Action = "login_failure"
	Logout          Action = "logout"
	LiveViewStart   Action = "live_view_start"
	LiveViewStop    Action = "live_view_stop"
	SnapshotView    Action = "snapshot_view"
	ClipPlay        Action = "clip_play"
	ClipDownload    Action = "clip_download"
	AlertAck        Action = "alert_ack"
	AlertAssign     Action = "alert_assign"
	SilenceCreate   Action = "silence_create"
	SilenceExpire   Action = "silence_expire"
	RuleChange      Action = "rule_change"
	UserCreate      Action = "user_create"
	UserUpdate      Action = "user_update"
	UserDelete      Action = "user_delete"
	TokenCreate     Action = "token_create"
	TokenRevoke     Action = "token_revoke"
	maxFieldLength         = 256
	maxDetailLength        = 2048
)

// Actions lists every known action, in the order above, then the ward's (ward.go).
var Actions = append([]Action{
	LoginSuccess, LoginFailure, Logout, LiveViewStart, LiveViewStop, SnapshotView, ClipPlay, ClipDownload,
	AlertAck, SilenceCreate, SilenceExpire, RuleChange, UserCreate, UserUpdate, UserDelete, TokenCreate, TokenRevoke,
	AlertAssign,
}, append(wardActions[:len(wardActions):len(wardActions)], sitePlanActions...)...)

// KnownAction reports whether a is one of Actions or OccupantActions.
func KnownAction(a string) bool {
	for _, k := range append(Actions[:len(Actions):len(Actions)], OccupantActions...) {
		if k == a {
			return true
		}
	}
	return false
}

// Record is one audit entry.
type Record struct {
	// ID is assigned by Record; it increases with insertion order.
	ID int64 `json:"id"`
	// Time is when it happened; Record sets it to now when zero.
	Time time.Time `json:"time"`
	// Actor is the user name, or "token/<name>" for an API token; for a failed login, the name that was tried.
	Actor string `json:"actor"`
	// Role is the actor's role at the time.
	Role string `json:"role"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	// Site and Camera locate the subject when there is one.
	Site   string `json:"site,omitempty"`
	Camera string `json:"camera,omitempty"`
	// Target is the object acted on: an alert id, a rule, a user name, a token id, a clip.
	Target string `json:"target,omitempty"`
	// IP is the client address.
	IP string `json:"ip,omitempty"`
	// Detail is free text (a failure reason, what changed). It never holds a secret.
	Detail string `json:"detail,omitempty"`
	// Success says whether the action was carried out.
	Success bool `json:"success"`
}

// Filter selects records for Query. Zero fields do not filter.
type Filter struct {
	Actor, Action, Site string
	// Since and Until bound Time (inclusive, exclusive).
	Since, Until time.Time
	// BeforeID pages backwards: only records with ID < BeforeID.
	BeforeID int64
	// Limit caps the result; it defaults to Config.DefaultLimit and is capped at Config.MaxLimit.
	Limit int
}

// Config configures the audit log.
type Config struct {
	// DefaultLimit is the number of records a query returns when it asks for none. It defaults to 100.
	DefaultLimit int
	// MaxLimit caps any query (JSON or CSV). It defaults to 10000.
	MaxLimit int
}

// Deps are the audit log's collaborators; all are optional.
type Deps struct {
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registerer receives the audit metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock stamps the records; nil is the real clock.
	Clock clock.Clock
}

// Log is the audit trail. It is safe for concurrent use.
type Log struct {
	db      *sql.DB
	cfg     Config
	log     *slog.Logger
	clk     clock.Clock
	records *prometheus.CounterVec
	errs    prometheus.Counter
}

const schema = `
CREATE TABLE IF NOT EXISTS audit_log (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ms INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	role    TEXT NOT NULL,
	action  TEXT NOT NULL,
	site    TEXT NOT NULL,
	camera  TEXT NOT NULL,
	target  TEXT NOT NULL,
	ip      TEXT NOT NULL,
	detail  TEXT NOT NULL,
	success INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time_ms);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log(actor, id);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log(action, id);
`

// New creates the audit table in db if needed. db should be a SQLite database opened with WAL and a busy
// timeout (see auth.OpenDB).
func New(db *sql.DB, cfg Config, deps Deps) (*Log, error) {
	if db == nil {
		return nil, errors.New("audit: no database")
	}
	if cfg.DefaultLimit <= 0 {
		cfg.DefaultLimit = 100
	}
	if cfg.MaxLimit <= 0 {
		cfg.MaxLimit = 10000
	}
	if cfg.DefaultLimit > cfg.MaxLimit {
		return nil, fmt.Errorf("audit: default limit %d exceeds max limit %d", cfg.DefaultLimit, cfg.MaxLimit)
	}
	l := &Log{db: db, cfg: cfg, log: logx.Component(deps.Logger, "audit"), clk: clock.Or(deps.Clock)}
	f := promauto.With(deps.Registerer)
	l.records = f.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_audit_records_total",
		Help: "Audit records written, by action (unknown actions count as \"other\") and success.",
	}, []string{"action", "success"})
	l.errs = f.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_audit_write_errors_total",
		Help: "Audit records that could not be written.",
	})
	if _, err := db.Exec(schema); err != nil {
		return nil, fmt.Errorf("audit: create schema: %w", err)
	}
	return l, nil
}

// Record writes one record. A failure is counted and logged as well as returned, so callers that cannot do
// anything better may ignore it without the loss going unnoticed.
func (l *Log) Record(ctx context.Context, r Record) error {
	if r.Action == "" {
		l.errs.Inc()
		l.log.Error("audit record without action dropped", "actor", clip(r.Actor, maxFieldLength))
		return errors.New("audit: record has no action")
	}
	if r.Time.IsZero() {
		r.Time = l.clk.Now()
	}
	res, err := l.db.ExecContext(ctx, `INSERT INTO audit_log
		(time_ms, actor, role, action, site, camera, target, ip, detail, success)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Time.UnixMilli(), clip(r.Actor, maxFieldLength), clip(r.Role, maxFieldLength),
		clip(r.Action, maxFieldLength), clip(r.Site, maxFieldLength), clip(r.Camera, maxFieldLength),
		clip(r.Target, maxFieldLength), clip(r.IP, maxFieldLength), clip(r.Detail, maxDetailLength), r.Success)
	if err == nil {
		_, err = res.LastInsertId()
	}
	if err != nil {
		l.errs.Inc()
		l.log.Error("audit record lost", "action", r.Action, "actor", clip(r.Actor, maxFieldLength), "err", err)
		return fmt.Errorf("audit: write %s record: %w", r.Action, err)
	}
	label := r.Action
	if !KnownAction(label) {
		label = "other"
	}
	l.records.WithLabelValues(label, fmt.Sprint(r.Success)).Inc()
	return nil
}

// Query returns the records matching f, newest first.
func (l *Log) Query(ctx context.Context, f Filter) ([]Record, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Site != "" {
		add("site = ?", f.Site)
	}
	if !f.Since.IsZero() {
		add("time_ms >= ?", f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		add("time_ms < ?", f.Until.UnixMilli())
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = l.cfg.DefaultLimit
	}
	limit = min(limit, l.cfg.MaxLimit)
	q := `SELECT id, time_ms, actor, role, action, site, camera, target, ip, detail, success FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		var r Record
		var ms int64
		if err := rows.Scan(&r.ID, &ms, &r.Actor, &r.Role, &r.Action, &r.Site, &r.Camera, &r.Target, &r.IP,
			&r.Detail, &r.Success); err != nil {
			return nil, fmt.Errorf("audit: scan: %w", err)
		}
		r.Time = time.UnixMilli(ms).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	return out, nil
}

// Prune deletes the records older than before and returns how many it deleted. Retention is the caller's
// policy (medical sites often must keep years); nothing is pruned unless this is called.
func (l *Log) Prune(ctx context.Context, before time.Time) (int64, error) {
	return l.change(ctx, "prune", `DELETE FROM audit_log WHERE time_ms < ?`, before.UnixMilli())
}

// change runs a statement that changes records and returns how many it changed; errors name the operation.
func (l *Log) change(ctx context.Context, op, query string, args ...any) (int64, error) {
	res, err := l.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("audit: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("audit: %s: %w", op, err)
	}
	return n, nil
}

// clip bounds a field so a hostile client cannot grow the database with one request; it keeps valid UTF-8.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
