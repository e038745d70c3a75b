// Package notify delivers alert notifications: receivers and routes, webhook formats, the durable outbox in
// SQLite, signing, retries with backoff, SSRF-safe dialing, and the delivery log.
package notify

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// Change is one alert state change to notify about. The alerts package fills it; notify routes it to receivers
// and renders it per receiver format.
type Change struct {
	// Fingerprint identifies the alert (stable hash of its labels).
	Fingerprint string
	// Name is the alert name (the "alertname" label).
	Name string
	// State is "firing" or "resolved"; Reminder marks a repeat notification of a still-firing unacked alert.
	State       string
	Reminder    bool
	Labels      map[string]string
	Annotations map[string]string
	// Value is the expression value that fired the alert (NaN for event alerts without one).
	Value    float64
	StartsAt time.Time
	EndsAt   time.Time // zero while firing
	// OutageDuration is set on a resolve: how long the alert was firing.
	OutageDuration time.Duration
	// AckedBy says who acknowledged the alert, if anyone.
	AckedBy string
	// GeneratorURL links to the alert in citywatch's UI or API.
	GeneratorURL string
	// Flapping says the alert fires and resolves repeatedly (FlapCount fires so far) and is notified once
	// for the whole episode; a reminder without Flapping after a flapping one says it settled while firing.
	Flapping  bool
	FlapCount int
	// Seq numbers the reminders of one firing (1, 2, ...) so each gets its own idempotency key; enqueuing the
	// same (change, Seq) twice is a no-op. A Reminder with Seq 0 gets a time-based sequence instead.
	Seq int
}

// Enqueuer commits notifications inside the caller's transaction, so an alert change and its notifications are
// stored together or not at all (the durable outbox). Implemented by *Outbox.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, changes ...Change) error
}

// Publisher publishes one MQTT message; the embedded mochi broker's (*Server).Publish matches it.
type Publisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// Deps are the outbox's collaborators.
type Deps struct {
	// DB is the SQLite database shared with the alerts package (see OpenDB). Required.
	DB *sql.DB
	// Logger gets delivery problems; nil discards.
	Logger *slog.Logger
	// Registerer gets the citywatch_notify_* metrics; nil does not register them.
	Registerer prometheus.Registerer
	// Clock drives retry schedules, breakers and the poll ticker; nil is the real clock.
	Clock clock.Clock
	// MQTT is the broker for receivers with format "mqtt"; required only if there are such receivers.
	MQTT Publisher
}

// Errors returned by the outbox.
var (
	// ErrNotFound is returned by Replay for an unknown delivery id.
	ErrNotFound = errors.New("notify: delivery not found")
	// ErrNotReplayable is returned by Replay for a delivery that is not failed or dead.
	ErrNotReplayable = errors.New("notify: only failed or dead deliveries can be replayed")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("notify: outbox closed")
)

// Delivery statuses.
const (
	StatusPending    = "pending"
	StatusDelivering = "delivering"
	StatusDelivered  = "delivered"
	StatusFailed     = "failed" // retried for Config.RetryFor without success
	StatusDead       = "dead"   // rejected by the receiver (4xx) or undeliverable (blocked, unrenderable)
)

// Outbox is the durable notification outbox: Enqueue stores one row per (change, receiver) in the caller's
// transaction, and delivery workers send each row until its receiver accepts it (at least once).
type Outbox struct {
	cc      atomic.Pointer[compiled] // swapped by SetConfig
	env     integrationEnv
	db      *sql.DB
	log     *slog.Logger
	clock   clock.Clock
	m       *metrics
	recv    map[string]*receiverState // written by the run loop (SetConfig) under recvMu once started
	order   []*receiverState
	recvMu  sync.RWMutex
	reconf  chan reconfig
	wake    chan struct{}
	results chan result
	dbErr   string       // last logged database error (run loop only)
	cycles  atomic.Int64 // run loop iterations, for tests to wait on
	stmts   statements

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
	workers sync.WaitGroup
}

// NewOutbox validates cfg, creates the outbox tables if needed and returns an outbox that is not yet
// delivering (call Start).
func NewOutbox(cfg Config, deps Deps) (*Outbox, error) {
	if deps.DB == nil {
		return nil, errors.New("notify: Deps.DB is required")
	}
	cc, err := compileConfig(cfg.withDefaults())
	if err != nil {
		return nil, fmt.Errorf("notify: invalid config: %w", err)
	}
	o := &Outbox{db: deps.DB, log: logx.Component(deps.Logger, "notify"), clock: clock.Or(deps.Clock), wake: make(chan struct{}, 1),
		recv: map[string]*receiverState{}, done: make(chan struct{}), reconf: make(chan reconfig)}
	o.cc.Store(cc)
	o.m = newMetrics(deps.Registerer, cc.order)
	env := integrationEnv{externalURL: cc.cfg.ExternalURL, clock: o.clock}
	if deps.MQTT != nil {
		// QoS 1: a siren subscribed with QoS 1 and a persistent session gets what was published while it was away.
		env.mqtt = &MQTTPublisher{Pub: deps.MQTT, Prefix: cc.cfg.MQTTTopicPrefix, QoS: 1, ExternalURL: cc.cfg.ExternalURL}
	}
	o.env = env
	capacity := 0
	for _, name := range cc.order {
		rs, err := newReceiverState(cc.receivers[name], env)
		if err != nil {
			return nil, err
		}
		o.recv[name] = rs
		o.order = append(o.order, rs)
		capacity += rs.capacity
	}
	o.results = make(chan result, capacity+1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := migrate(ctx, o.db); err != nil {
		return nil, err
	}
	if o.stmts, err = prepareStatements(ctx, o.db); err != nil {
		return nil, err
	}
	return o, nil
}

// IdempotencyKey is the key of the delivery of a change to a receiver; it is also the webhook-id header.
func IdempotencyKey(c Change, receiver string) string {
	h := sha256.New()
	for _, s := range []string{c.Fingerprint, c.State, strconv.FormatInt(c.StartsAt.UnixNano(), 10), receiver,
		strconv.FormatBool(c.Reminder), strconv.Itoa(c.Seq)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "cw_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Enqueue routes each change to its receivers and inserts one delivery row per (change, receiver) in tx.
// A row whose idempotency key already exists is skipped, so enqueuing the same change twice is harmless.
// Nothing is sent before the caller commits tx.
func (o *Outbox) Enqueue(ctx context.Context, tx *sql.Tx, changes ...Change) error {
	if tx == nil {
		return errors.New("notify: Enqueue needs a transaction")
	}
	if len(changes) == 0 {
		return nil
	}
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	var stmt *sql.Stmt
	if closed { // the shared statement is closed; rows still commit and are delivered after the next start
		var err error
		if stmt, err = tx.PrepareContext(ctx, sqlInsert); err != nil {
			return fmt.Errorf("notify: enqueue: %w", err)
		}
	} else {
		stmt = tx.StmtContext(ctx, o.stmts.insert)
	}
	defer stmt.Close()
	now := o.clock.Now().UnixMilli()
	for i, c := range changes {
		if err := validateChange(c); err != nil {
			return fmt.Errorf("notify: enqueue change %d: %w", i, err)
		}
		if c.Reminder && c.Seq == 0 {
			c.Seq = -int(o.clock.Now().UnixNano() / int64(time.Millisecond))
		}
		js, err := json.Marshal(toStored(c))
		if err != nil {
			return fmt.Errorf("notify: enqueue change %d: encode: %w", i, err)
		}
		for _, r := range o.cc.Load().route(c) {
			if _, err := stmt.ExecContext(ctx, IdempotencyKey(c, r), r, c.Fingerprint, c.Name, c.State, js, now, now, now, now); err != nil {
				return fmt.Errorf("notify: enqueue change %d for receiver %q: %w", i, r, err)
			}
		}
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

func validateChange(c Change) error {
	if c.Fingerprint == "" {
		return errors.New("empty fingerprint")
	}
	if c.Name == "" {
		return errors.New("empty alert name")
	}
	if c.State != "firing" && c.State != "resolved" {
		return fmt.Errorf("state must be firing or resolved, got %q", truncate(c.State, 32))
	}
	return nil
}

// Start recovers rows left "delivering" by a crash and starts the delivery workers.
func (o *Outbox) Start() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	if o.started {
		return errors.New("notify: outbox already started")
	}
	if err := o.recover(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	o.started = true
	for _, rs := range o.order {
		rs.workers = true
		for i := 0; i < rs.cr.MaxConcurrency; i++ {
			o.workers.Add(1)
			go o.worker(ctx, rs)
		}
	}
	go o.run(ctx)
	return nil
}

// recover puts rows a crashed process left "delivering" back to pending and fails rows whose receiver is no
// longer configured (they would otherwise wait forever; Replay revives them once the receiver is back).
func (o *Outbox) recover() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := o.clock.Now().UnixMilli()
	res, err := o.db.ExecContext(ctx, `UPDATE notify_deliveries SET status='pending', updated_at=? WHERE status='delivering'`, now)
	if err != nil {
		return fmt.Errorf("notify: recover in-flight deliveries: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		o.log.Info("re-queued deliveries that were in flight at the last stop", "count", n)
	}
	return o.failUnconfigured(ctx)
}

// Close stops the workers, waits for them, records finished attempts and puts unfinished rows back to
// pending. It is safe to call more than once and before Start.
func (o *Outbox) Close() {
	o.mu.Lock()
	first := !o.closed
	o.closed = true
	started := o.started
	o.mu.Unlock()
	if started {
		o.cancel()
		<-o.done // the run loop closes the statements
		return
	}
	if first {
		o.stmts.close()
	}
}

// Delivery is one row of the delivery log. It carries no URL, header or secret.
type Delivery struct {
	ID             int64      `json:"id"`
	IdempotencyKey string     `json:"idempotency_key"`
	Receiver       string     `json:"receiver"`
	Fingerprint    string     `json:"fingerprint"`
	Alert          string     `json:"alert"`
	State          string     `json:"state"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  time.Time  `json:"next_attempt_at"`
	LastError      string     `json:"last_error,omitempty"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
}

// DeliveryFilter selects rows of the delivery log; zero fields match everything.
type DeliveryFilter struct {
	Receiver    string
	Status      string
	Fingerprint string
	Alert       string
	// BeforeID pages backwards: only rows with a smaller id.
	BeforeID int64
	// Limit caps the rows returned, newest first. It defaults to 100 and is at most 1000.
	Limit int
}

// Deliveries returns the delivery log, newest first.
func (o *Outbox) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	q := `SELECT id, idempotency_key, receiver, fingerprint, alert_name, alert_state, status, attempts,
		next_attempt_at, last_error, last_status_code, created_at, updated_at, delivered_at FROM notify_deliveries WHERE 1=1`
	var args []any
	for col, v := range map[string]string{"receiver": f.Receiver, "status": f.Status, "fingerprint": f.Fingerprint, "alert_name": f.Alert} {
		if v != "" {
			q += " AND " + col + " = ?"
			args = append(args, v)
		}
	}
	if f.BeforeID > 0 {
		q += " AND id < ?"
		args = append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := o.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("notify: query deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var next, created, updated int64
		var delivered sql.NullInt64
		if err := rows.Scan(&d.ID, &d.IdempotencyKey, &d.Receiver, &d.Fingerprint, &d.Alert, &d.State, &d.Status,
			&d.Attempts, &next, &d.LastError, &d.LastStatusCode, &created, &updated, &delivered); err != nil {
			return nil, fmt.Errorf("notify: scan delivery: %w", err)
		}
		d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = time.UnixMilli(next).UTC(), time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		if delivered.Valid {
			t := time.UnixMilli(delivered.Int64).UTC()
			d.DeliveredAt = &t
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notify: query deliveries: %w", err)
	}
	return out, nil
}

// Replay sends a failed or dead delivery again: it becomes pending, due now, with a fresh retry window.
func (o *Outbox) Replay(ctx context.Context, id int64) error {
	now := o.clock.Now().UnixMilli()
	res, err := o.db.ExecContext(ctx, `UPDATE notify_deliveries SET status='pending', next_attempt_at=?,
		retry_since=?, updated_at=? WHERE id=? AND status IN ('failed','dead')`, now, now, now, id)
	if err != nil {
		return fmt.Errorf("notify: replay %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		select {
		case o.wake <- struct{}{}:
		default:
		}
		return nil
	}
	var status string
	err = o.db.QueryRowContext(ctx, `SELECT status FROM notify_deliveries WHERE id=?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("notify: replay %d: %w", id, err)
	}
	return fmt.Errorf("%w: delivery %d is %s", ErrNotReplayable, id, status)
}

var _ Enqueuer = (*Outbox)(nil)
