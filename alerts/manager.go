package alerts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"citywatch/internal/logx"
	"citywatch/internal/sqlitedb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"citywatch/alerts/notify"
	"citywatch/internal/clock"
)

// State is the lifecycle state of an alert.
type State string

// The alert states.
const (
	StatePending  State = "pending"
	StateFiring   State = "firing"
	StateResolved State = "resolved"
)

// Alert is one alert: one series (or event key) of one rule from the moment its condition held until it
// resolved. A condition that holds again later is a new Alert with a new ID.
type Alert struct {
	ID int64 `json:"id"`
	// Fingerprint is a stable hash of Labels.
	Fingerprint string `json:"fingerprint"`
	// Rule is the alert name; Group the rule group.
	Rule        string            `json:"rule"`
	Group       string            `json:"rule_group"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       State             `json:"state"`
	// Value is the last expression value (NaN if unknown; encode with care, JSON has no NaN).
	Value float64 `json:"value"`
	// ActiveAt is when the condition started to hold; FiredAt when the alert fired; ResolvedAt when it
	// resolved; LastEval the last evaluation that saw it.
	ActiveAt   time.Time `json:"active_at"`
	FiredAt    time.Time `json:"fired_at"`
	ResolvedAt time.Time `json:"resolved_at"`
	LastEval   time.Time `json:"last_eval"`
	// AckedBy, AckedAt and AckComment record an acknowledgement, which stops reminders.
	AckedBy    string    `json:"acked_by"`
	AckedAt    time.Time `json:"acked_at"`
	AckComment string    `json:"ack_comment"`
	// Assignee is who is working on the alert.
	Assignee string `json:"assignee"`
	// LastNotifiedAt, NotifyCount and NotifiedState ("", "firing", "resolved") record notifications sent.
	LastNotifiedAt time.Time `json:"last_notified_at"`
	NotifyCount    int       `json:"notify_count"`
	NotifiedState  string    `json:"notified_state"`
	// Flapping says the alert fired FlapCount times within the rule's flap window: it stays firing through
	// short recoveries, is shown once, and is notified per the rule's flap_notify until it settles.
	Flapping  bool `json:"flapping"`
	FlapCount int  `json:"flap_count,omitempty"`
	// SilencedBy lists the IDs of active silences matching the alert (computed, active alerts only).
	SilencedBy []string `json:"silenced_by,omitempty"`
	// InhibitedBy lists the IDs of firing alerts (label inhibit_scope) that suppress this alert's
	// notifications; Inhibits the IDs this alert suppresses (computed, active alerts only).
	InhibitedBy []int64 `json:"inhibited_by,omitempty"`
	Inhibits    []int64 `json:"inhibits,omitempty"`

	ruleKey      string
	lastActiveAt time.Time // last evaluation at which the condition held (keep_firing_for)
	lastSaved    time.Time // last time the row was written
	// keepFiringSince is the first evaluation without the condition while keep_firing_for holds the alert.
	keepFiringSince time.Time
	inhibitors      []*Alert  // firing alerts inhibiting this one, resolved to InhibitedBy after commit
	flapEdge        time.Time // last time a flapping alert's condition started or stopped holding
	flapAbsent      bool      // a flapping alert's condition did not hold at the last evaluation
	flapSettled     bool      // a flapping alert settled while still firing; to be notified once
	flapMuted       bool      // flap_notify "none": no notifications while flapping
	dirty           bool      // changed in the current evaluation, to be saved
}

// AlertFilter selects alerts from the history.
type AlertFilter struct {
	// State selects one state; empty means all.
	State State
	// Site selects alerts with this site label.
	Site string
	// Since selects alerts that were active at or after this time; zero means all.
	Since time.Time
	// Limit bounds the result, newest first. It defaults to 100 and is capped at 10000.
	Limit int
}

// Grouping configures how notifications are batched, as in an Alertmanager route.
type Grouping struct {
	// GroupBy are the labels whose values form a group. It defaults to ["alertname", "site"].
	GroupBy []string
	// GroupWait is how long a new group waits for more alerts before its first notification. It defaults to
	// 30s (Alertmanager); a negative value means no wait. DemoGrouping uses 2s.
	GroupWait time.Duration
	// GroupInterval is the minimum time between two notifications of a group about new or resolved alerts.
	// It defaults to 5m; a negative value means none. DemoGrouping uses 10s.
	GroupInterval time.Duration
	// RepeatInterval is how often a firing, unacknowledged alert is re-notified (a reminder). It defaults
	// to 4h. DemoGrouping uses 5m.
	RepeatInterval time.Duration
}

// DemoGrouping returns the grouping used by `citywatch demo`: fast enough to see notifications seconds after
// a fault is injected.
func DemoGrouping() Grouping {
	return Grouping{GroupBy: []string{"alertname", "site"}, GroupWait: 2 * time.Second,
		GroupInterval: 10 * time.Second, RepeatInterval: 5 * time.Minute}
}

// Config configures the alert manager.
type Config struct {
	// EvalInterval is how often rules are evaluated. It defaults to 1s. A rule group's longer interval applies
	// to its rules (evaluated at the tick nearest to that interval); event rules are evaluated every tick.
	EvalInterval time.Duration
	// Rules are the initial rules; SetRules replaces them. Pass them here rather than by SetRules after Run
	// started: alerts in the database whose rule is not loaded by the first evaluation are resolved.
	Rules []Rule
	// Grouping batches notifications; see Grouping for defaults.
	Grouping Grouping
	// DBPath is the SQLite file used when Deps.DB is nil. One of them is required.
	DBPath string
	// LookbackDelta is how long a series without new samples still counts as present, when the manager
	// builds its own PromQL engine. It defaults to 5m (as Prometheus): a gap in the data shorter than this
	// does not resolve alerts; a longer one does.
	LookbackDelta time.Duration
	// QueryTimeout bounds one rule evaluation. It defaults to 10s.
	QueryTimeout time.Duration
	// EventQueueSize bounds the queue of Event calls not yet processed; more are dropped and counted in
	// citywatch_alerts_events_dropped_total. It defaults to 4096.
	EventQueueSize int
	// MaxEventKeys bounds the keys (cameras, devices) an event rule tracks; events for more keys are dropped
	// and counted. It defaults to 10000.
	MaxEventKeys int
	// ExternalURL is the base of notify.Change.GeneratorURL ({ExternalURL}/api/alerts/{id}) and
	// $externalURL in templates. It defaults to empty (a relative URL).
	ExternalURL string
	// SilenceRetention is how long expired silences are kept. It defaults to 30 days.
	SilenceRetention time.Duration
	// Flap is the flap detection of every rule without its own; see FlapPolicy for defaults (3 fires in 10m,
	// notify on transitions).
	Flap FlapPolicy
}

// Deps are the manager's collaborators.
type Deps struct {
	// Queryable is the storage PromQL rules read, typically *tsdb.DB. Required if any rule has an expression.
	Queryable storage.Queryable
	// Engine evaluates PromQL; nil builds one with Config.LookbackDelta and QueryTimeout.
	Engine *promql.Engine
	// Query, when set, evaluates rule and template expressions instead of Engine over Queryable: a centre
	// evaluates them on a remote engine (storage.query). Queryable is then not needed.
	Query QueryFunc
	// DB is the SQLite database shared with the notification outbox; nil opens Config.DBPath.
	DB *sql.DB
	// Outbox receives notifications inside the state-change transaction. Required.
	Outbox notify.Enqueuer
	// Logger gets a component=alerts attribute; nil discards.
	Logger *slog.Logger
	// Registerer receives the citywatch_alerts_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock tells the time (alert, ack and silence times) and runs the evaluation ticker; nil is the real
	// clock. Evaluation durations are measured on the real clock.
	Clock clock.Clock
}

// RuleStatus is the evaluation health of one rule.
type RuleStatus struct {
	Rule Rule `json:"rule"`
	// Health is "unknown" before the first evaluation, then "ok" or "err".
	Health string `json:"health"`
	// LastError is the last evaluation error, empty when healthy.
	LastError string `json:"last_error,omitempty"`
	// LastEval is when the rule was last evaluated, EvalDuration how long it took.
	LastEval     time.Time     `json:"last_eval"`
	EvalDuration time.Duration `json:"eval_duration"`
	// Pending and Firing count the rule's active alerts.
	Pending int `json:"pending"`
	Firing  int `json:"firing"`
}

// Event is something that happened, for event rules: a camera state change, a tamper detection, motion, a
// device message, a rejected ingest message.
type Event struct {
	// Kind is one of the Kind* constants ("camera_state", "ingest_rejected", ...).
	Kind string
	// Labels identify the source (camera, site, device, zone, reason) and carry details (state).
	Labels map[string]string
	// Time is when it happened; zero means now.
	Time time.Time
	// Value is a kind-specific number (motion score, tamper on/off, count).
	Value float64
}

// Errors returned by the API.
var (
	ErrAlertNotFound = errors.New("alerts: alert not found")
	ErrInvalid       = errors.New("alerts: invalid argument")
)

// Manager evaluates rules and owns the alert lifecycle. Its methods are safe for concurrent use.
type Manager struct {
	cfg     Config
	db      *sql.DB
	ownDB   bool
	q       storage.Queryable
	engine  *promql.Engine
	eval    QueryFunc
	outbox  notify.Enqueuer
	log     *slog.Logger
	clock   clock.Clock
	now     func() time.Time
	metrics *metrics

	events chan Event

	evalMu sync.Mutex // serializes evaluations

	mu       sync.Mutex
	rules    []*ruleState
	orphans  []*Alert            // active alerts of removed rules, resolved at the next evaluation
	loaded   map[string][]*Alert // active alerts from the database not yet claimed by a rule, by rule key
	resolved []*Alert            // resolved alerts whose resolution is still to be notified
	silences []*Silence
	groups   map[string]*groupState

	closeOnce sync.Once
	closeErr  error
}

// ruleState is a rule with its alerts and health.
type ruleState struct {
	*compiledRule
	alerts   map[string]*Alert // pending and firing, by fingerprint
	ev       *eventState
	flaps    map[string][]time.Time // recent fire times by fingerprint, for flap detection
	health   string
	lastErr  string
	lastEval time.Time
	duration time.Duration
}

// New opens the manager: it migrates the database, loads active alerts and silences, and compiles
// cfg.Rules. Run evaluates.
func New(cfg Config, deps Deps) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := cfg.Flap.validate(); err != nil {
		return nil, fmt.Errorf("%w: flap: %w", ErrInvalid, err)
	}
	cfg = cfg.withDefaults()
	if deps.Outbox == nil {
		return nil, fmt.Errorf("%w: Deps.Outbox is required", ErrInvalid)
	}
	m := &Manager{cfg: cfg, q: deps.Queryable, engine: deps.Engine, outbox: deps.Outbox, clock: clock.Or(deps.Clock),
		log: logx.Component(deps.Logger, "alerts"), events: make(chan Event, cfg.EventQueueSize), groups: map[string]*groupState{},
		loaded: map[string][]*Alert{}}
	m.now = m.clock.Now
	m.eval = deps.Query
	if m.eval == nil && m.q != nil {
		if m.engine == nil {
			m.engine = promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: cfg.QueryTimeout,
				LookbackDelta: cfg.LookbackDelta, EnableAtModifier: true, EnableNegativeOffset: true})
		}
		m.eval = EngineQueryFunc(m.engine, m.q)
	}
	m.db = deps.DB
	if m.db == nil {
		if cfg.DBPath == "" {
			return nil, fmt.Errorf("%w: Config.DBPath or Deps.DB is required", ErrInvalid)
		}
		db, err := sqlitedb.Open(cfg.DBPath)
		if err != nil {
			return nil, err
		}
		m.db, m.ownDB = db, true
	}
	ctx := context.Background()
	if err := m.open(ctx); err != nil {
		if m.ownDB {
			_ = m.db.Close()
		}
		return nil, err
	}
	m.metrics = newMetrics(deps.Registerer, m)
	return m, nil
}

func (m *Manager) open(ctx context.Context) error {
	if err := migrate(ctx, m.db, m.now()); err != nil {
		return err
	}
	active, err := loadActive(ctx, m.db)
	if err != nil {
		return err
	}
	for _, a := range active {
		a.lastSaved = m.now()
		if a.Flapping {
			// The edge time is not persisted: a restart starts the settle window anew.
			a.flapEdge, a.flapAbsent = m.now(), a.lastActiveAt.Before(a.LastEval)
		}
		if a.State == StateResolved {
			m.resolved = append(m.resolved, a)
			continue
		}
		m.loaded[a.ruleKey] = append(m.loaded[a.ruleKey], a)
	}
	if m.silences, err = loadSilences(ctx, m.db); err != nil {
		return err
	}
	if err := m.SetRules(m.cfg.Rules); err != nil {
		return err
	}
	m.log.Info("alerts loaded", "active", len(active), "silences", len(m.silences), "rules", len(m.rules))
	return nil
}

func (c Config) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"eval_interval", c.EvalInterval}, {"lookback_delta", c.LookbackDelta}, {"query_timeout", c.QueryTimeout},
		{"silence_retention", c.SilenceRetention}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%w: %s: must be >= 0, got %q", ErrInvalid, d.name, d.v))
		}
	}
	for _, l := range c.Grouping.GroupBy {
		if !model.LegacyValidation.IsValidLabelName(l) {
			errs = append(errs, fmt.Errorf("%w: group_by: invalid label name %q", ErrInvalid, l))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	c.ExternalURL = strings.TrimSuffix(c.ExternalURL, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.EvalInterval, time.Second)
	def(&c.LookbackDelta, 5*time.Minute)
	def(&c.QueryTimeout, 10*time.Second)
	def(&c.SilenceRetention, 30*24*time.Hour)
	def(&c.Grouping.GroupWait, 30*time.Second)
	def(&c.Grouping.GroupInterval, 5*time.Minute)
	def(&c.Grouping.RepeatInterval, 4*time.Hour)
	c.Grouping.GroupWait = max(c.Grouping.GroupWait, 0)
	c.Grouping.GroupInterval = max(c.Grouping.GroupInterval, 0)
	if c.Grouping.RepeatInterval < 0 {
		c.Grouping.RepeatInterval = 4 * time.Hour
	}
	if c.Grouping.GroupBy == nil {
		c.Grouping.GroupBy = []string{"alertname", "site"}
	}
	if c.EventQueueSize <= 0 {
		c.EventQueueSize = 4096
	}
	if c.MaxEventKeys <= 0 {
		c.MaxEventKeys = 10000
	}
	return c
}

// Run evaluates the rules every EvalInterval and processes events until ctx is done, then returns nil.
// Evaluation errors are reported per rule (Rules) and never stop Run.
func (m *Manager) Run(ctx context.Context) error {
	t := m.clock.NewTicker(m.cfg.EvalInterval)
	defer t.Stop()
	m.evalOnce(ctx)
	// soon fires shortly after events arrive: event rules (camera offline, tamper, motion) are then evaluated
	// and notified at once instead of at the next tick. The short delay gathers a burst into one round.
	var soon <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-m.events:
			m.mu.Lock()
			m.applyEvent(ev)
			m.mu.Unlock()
			if soon == nil {
				soon = m.clock.After(eventSettle)
			}
		case <-soon:
			soon = nil
			m.evalEvents(ctx)
		case <-t.C():
			m.evalOnce(ctx)
		}
	}
}

// Close closes the database if the manager opened it (Config.DBPath). It is safe to call more than once;
// call it after Run has returned.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		if m.ownDB {
			m.closeErr = m.db.Close()
		}
	})
	return m.closeErr
}

// Event hands an event to the event rules. It never blocks: when the queue is full the event is dropped and
// counted in citywatch_alerts_events_dropped_total.
func (m *Manager) Event(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = m.now()
	}
	select {
	case m.events <- ev:
	default:
		m.metrics.eventsDropped.Inc()
	}
}

// SetRules replaces the rules without a restart. Every rule is validated first; on error nothing changes.
// Rules that are unchanged (same group, name, expression or event spec, and labels) keep their alerts, so a
// reload neither re-fires nor resets `for`; alerts of removed rules are resolved at the next evaluation.
func (m *Manager) SetRules(rules []Rule) error {
	compiled := make([]*compiledRule, 0, len(rules))
	var errs []error
	seen := map[string]int{}
	for _, r := range rules {
		c, err := compile(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c.Expr != "" && m.eval == nil {
			errs = append(errs, r.errorf("expr: no Queryable to evaluate PromQL against"))
			continue
		}
		if n := seen[c.key]; n > 0 {
			c.key = fmt.Sprintf("%s-%d", c.key, n)
		}
		seen[c.key]++
		compiled = append(compiled, c)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := map[string]*ruleState{}
	for _, rs := range m.rules {
		old[rs.key] = rs
	}
	next := make([]*ruleState, 0, len(compiled))
	for _, c := range compiled {
		rs, ok := old[c.key]
		if ok {
			delete(old, c.key)
			rs.compiledRule = c
			if rs.ev != nil {
				rs.ev.rule = c
			}
		} else {
			rs = &ruleState{compiledRule: c, alerts: map[string]*Alert{}, health: "unknown"}
			if c.Event != nil {
				rs.ev = newEventState(c, m.cfg.MaxEventKeys)
			}
			// Claim the rule's alerts loaded from the database, or orphaned by an earlier SetRules that has not
			// been evaluated yet.
			claim := m.loaded[c.key]
			delete(m.loaded, c.key)
			m.orphans = slices.DeleteFunc(m.orphans, func(a *Alert) bool {
				if a.ruleKey == c.key {
					claim = append(claim, a)
					return true
				}
				return false
			})
			for _, a := range claim {
				rs.alerts[a.Fingerprint] = a
				if rs.ev != nil {
					rs.ev.seed(a)
				}
			}
		}
		next = append(next, rs)
	}
	for _, rs := range old {
		for _, a := range rs.alerts {
			m.orphans = append(m.orphans, a)
		}
	}
	m.rules = next
	return nil
}

// Rules returns the rules with their evaluation health, in configuration order.
func (m *Manager) Rules() []RuleStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]RuleStatus, 0, len(m.rules))
	for _, rs := range m.rules {
		r := rs.Rule
		r.Labels, r.Annotations = maps.Clone(r.Labels), maps.Clone(r.Annotations)
		if r.Event != nil {
			ev := *r.Event
			ev.Match, ev.By = maps.Clone(ev.Match), slices.Clone(ev.By)
			r.Event = &ev
		}
		st := RuleStatus{Rule: r, Health: rs.health, LastError: rs.lastErr, LastEval: rs.lastEval,
			EvalDuration: rs.duration}
		for _, a := range rs.alerts {
			if a.State == StateFiring {
				st.Firing++
			} else {
				st.Pending++
			}
		}
		out = append(out, st)
	}
	return out
}

// MarshalJSON encodes the alert; a NaN or infinite Value (no JSON number) is encoded as null.
func (a Alert) MarshalJSON() ([]byte, error) {
	type plain Alert
	var v *float64
	if !math.IsNaN(a.Value) && !math.IsInf(a.Value, 0) {
		v = &a.Value
	}
	return json.Marshal(struct {
		plain
		Value *float64 `json:"value"`
	}{plain(a), v})
}

func nanToZero(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return f
}
