// Package canary is citywatch's built-in watchdog for the alerting path itself: every Interval it appends a
// synthetic sample that a synthetic rule (Rule) turns into a firing alert, then checks that the alert fired
// and that a notification for it was delivered within Timeout. The gauge citywatch_canary_ok says whether the
// last round passed; when a round fails, a direct notification goes to a fallback receiver that does not
// depend on the path under test (no rule evaluation, no outbox).
package canary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
)

// The synthetic series and rule.
const (
	// MetricName is the metric of the synthetic sample; its only label is canary="1".
	MetricName = "citywatch_canary_value"
	// RuleName is the name (alertname) of the synthetic rule.
	RuleName = "CitywatchCanary"
	// RuleGroup is the rule group of the synthetic rule.
	RuleGroup = "citywatch-canary"
)

// Config configures the canary.
type Config struct {
	// Enabled turns the canary on. It defaults to false.
	Enabled bool
	// Interval is the time between two rounds. It defaults to 1m.
	Interval time.Duration
	// Timeout bounds one round: the alert must fire and its notification be delivered within it. It defaults
	// to 30s. It must cover the rule evaluation interval plus the notification group_wait of the route the
	// canary alert takes.
	Timeout time.Duration
	// FallbackReceiver names the receiver told directly when a round fails. Empty means no fallback (the gauge
	// and the log still report the failure).
	FallbackReceiver string
	// RepeatInterval is how often the fallback is told again while rounds keep failing. It defaults to 1h.
	RepeatInterval time.Duration
	// PollInterval is how often a round looks for the alert and the delivery. It defaults to 1s.
	PollInterval time.Duration
}

// Defaults for Config.
const (
	DefaultInterval       = time.Minute
	DefaultTimeout        = 30 * time.Second
	DefaultRepeatInterval = time.Hour
	DefaultPollInterval   = time.Second
)

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.RepeatInterval == 0 {
		c.RepeatInterval = DefaultRepeatInterval
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

// Validate reports every invalid field, defaults applied first.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"interval", c.Interval}, {"timeout", c.Timeout}, {"repeat_interval", c.RepeatInterval}, {"poll_interval", c.PollInterval}} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("canary.%s: must be > 0, got %q", f.name, f.d))
		}
	}
	if c.Timeout >= c.Interval {
		errs = append(errs, fmt.Errorf("canary.timeout: must be shorter than canary.interval (%s), got %q", c.Interval, c.Timeout))
	}
	return errors.Join(errs...)
}

// Rule is the synthetic alerting rule the canary's samples fire. The lead loads it with the configured rules
// (alerts.Config.Rules / SetRules) when the canary is enabled. It fires at once (For 0) while the last canary
// sample is above zero; each round resolves it again so the next round makes a new alert and a new
// notification (flap detection is off for it).
func Rule() alerts.Rule {
	return alerts.Rule{
		Alert: RuleName,
		Expr:  MetricName + `{canary="1"} > 0`,
		Group: RuleGroup,
		Labels: map[string]string{
			"severity": "info",
			"canary":   "1",
		},
		Annotations: map[string]string{
			"summary": "citywatch canary: synthetic alert proving that rule evaluation and notification delivery work",
		},
		// Every round fires and resolves the same alert on purpose: flap detection would make the third round
		// "flapping" and swallow the notifications the canary waits for.
		Flap: alerts.FlapPolicy{Count: -1},
	}
}

// AlertLookup finds the alerts of a rule that were active at or after since, newest first.
type AlertLookup interface {
	AlertsByRule(ctx context.Context, rule string, since time.Time) ([]alerts.Alert, error)
}

// DeliveryLookup lists deliveries from the notification log; *notify.Outbox implements it.
type DeliveryLookup interface {
	Deliveries(ctx context.Context, f notify.DeliveryFilter) ([]notify.Delivery, error)
}

// Notifier sends a notification directly to the fallback receiver, bypassing rules and the outbox.
type Notifier interface {
	Notify(ctx context.Context, msg string) error
}

// Deps are the canary's collaborators.
type Deps struct {
	// Appender stores the synthetic samples where rules read them (the embedded TSDB or the fan-out). Required.
	Appender store.Appender
	// Alerts finds the canary alert. Required; ManagerAlerts adapts *alerts.Manager.
	Alerts AlertLookup
	// Deliveries finds the canary alert's notification. Required; *notify.Outbox implements it.
	Deliveries DeliveryLookup
	// Fallback is told when a round fails. Required if Config.FallbackReceiver is set.
	Fallback Notifier
	// Logger gets a component=canary attribute; nil discards.
	Logger *slog.Logger
	// Registerer receives the citywatch_canary_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock tells the time and paces rounds and polls; nil is the real clock.
	Clock clock.Clock
}

// Canary runs the rounds. Create it with New and run it with Run.
type Canary struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	clock clock.Clock

	ok        prometheus.Gauge
	rounds    *prometheus.CounterVec
	lastOK    prometheus.Gauge
	fallbacks *prometheus.CounterVec

	mu           sync.Mutex
	status       Status
	lastFallback time.Time
}

// Status is the outcome of the last round, for the API.
type Status struct {
	// OK is whether the last round passed; false before the first round ends.
	OK bool `json:"ok"`
	// Rounds counts finished rounds.
	Rounds int `json:"rounds"`
	// LastRound is when the last round started; LastSuccess when a round last passed.
	LastRound   time.Time `json:"last_round"`
	LastSuccess time.Time `json:"last_success"`
	// LastError says why the last round failed; empty when it passed.
	LastError string `json:"last_error,omitempty"`
	// FireLatency is how long the last passing round waited for the alert, DeliveryLatency for its delivery
	// (both from the sample's append).
	FireLatency     time.Duration `json:"fire_latency"`
	DeliveryLatency time.Duration `json:"delivery_latency"`
}

// New validates cfg and returns a canary that is not yet running.
func New(cfg Config, deps Deps) (*Canary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if deps.Appender == nil || deps.Alerts == nil || deps.Deliveries == nil {
		return nil, errors.New("canary: Appender, Alerts and Deliveries are required")
	}
	if cfg.FallbackReceiver != "" && deps.Fallback == nil {
		return nil, fmt.Errorf("canary: fallback receiver %q configured without a Fallback notifier", cfg.FallbackReceiver)
	}
	f := promauto.With(deps.Registerer)
	return &Canary{
		cfg: cfg, deps: deps, log: logx.Component(deps.Logger, "canary"), clock: clock.Or(deps.Clock),
		ok: f.NewGauge(prometheus.GaugeOpts{Name: "citywatch_canary_ok",
			Help: "1 if the last canary round saw its synthetic alert fire and get delivered within the timeout, else 0."}),
		rounds: f.NewCounterVec(prometheus.CounterOpts{Name: "citywatch_canary_rounds_total",
			Help: "Canary rounds by result (ok, no_alert, no_delivery, append_error)."}, []string{"result"}),
		lastOK: f.NewGauge(prometheus.GaugeOpts{Name: "citywatch_canary_last_success_timestamp_seconds",
			Help: "Unix time of the last passing canary round."}),
		fallbacks: f.NewCounterVec(prometheus.CounterOpts{Name: "citywatch_canary_fallback_notifications_total",
			Help: "Direct notifications to the fallback receiver by result (sent, failed)."}, []string{"result"}),
	}, nil
}

// Status returns the outcome of the last round.
func (c *Canary) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Run runs a round at once and then every Interval until ctx ends; it returns nil then.
func (c *Canary) Run(ctx context.Context) error {
	for {
		start := c.clock.Now()
		_ = c.Round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := c.cfg.Interval - c.clock.Now().Sub(start)
		if wait <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(wait):
		}
	}
}

// roundError is a failed round: result is the bounded metric label.
type roundError struct {
	result string
	err    error
}

func (e *roundError) Error() string { return e.err.Error() }
func (e *roundError) Unwrap() error { return e.err }

// Round runs one round: append the firing sample, wait for the alert and its delivery, append the resolving
// sample, record the result and tell the fallback receiver on failure. It returns why the round failed.
func (c *Canary) Round(ctx context.Context) error {
	start := c.clock.Now()
	res, err := c.round(ctx, start)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: not a verdict on the alerting path
	}
	// Resolve the synthetic alert so that the next round fires a new one, whatever happened.
	// It must not share the firing sample's millisecond, or the TSDB refuses it as a duplicate.
	at := c.clock.Now()
	if at.UnixMilli() <= start.UnixMilli() {
		at = start.Add(time.Millisecond)
	}
	if rerr := c.appendValue(ctx, at, 0); rerr != nil && err == nil {
		err = &roundError{"append_error", rerr}
	}
	c.record(ctx, start, res, err)
	return err
}

type roundResult struct{ fire, deliver time.Duration }

func (c *Canary) round(ctx context.Context, start time.Time) (roundResult, error) {
	var res roundResult
	if err := c.appendValue(ctx, start, 1); err != nil {
		return res, &roundError{"append_error", err}
	}
	deadline := start.Add(c.cfg.Timeout)
	var alert *alerts.Alert
	var lastErr error
	for {
		if alert == nil {
			a, err := c.findAlert(ctx, start)
			lastErr = err
			if a != nil {
				alert, res.fire = a, c.clock.Now().Sub(start)
			}
		}
		if alert != nil {
			ok, err := c.findDelivery(ctx, alert, start)
			lastErr = err
			if ok {
				res.deliver = c.clock.Now().Sub(start)
				return res, nil
			}
		}
		if !c.clock.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-c.clock.After(min(c.cfg.PollInterval, deadline.Sub(c.clock.Now()))):
		}
	}
	detail := ""
	if lastErr != nil {
		detail = " (last lookup error: " + lastErr.Error() + ")"
	}
	if alert == nil {
		return res, &roundError{"no_alert", fmt.Errorf("canary alert %s did not fire within %s of its sample%s", RuleName, c.cfg.Timeout, detail)}
	}
	return res, &roundError{"no_delivery", fmt.Errorf("canary alert %s fired (id %d) but no notification for it was delivered within %s%s",
		RuleName, alert.ID, c.cfg.Timeout, detail)}
}

func (c *Canary) appendValue(ctx context.Context, t time.Time, v float64) error {
	err := c.deps.Appender.Append(ctx, []store.Sample{{Name: MetricName, Labels: []store.Label{{Name: "canary", Value: "1"}},
		T: t.UnixMilli(), V: v}})
	if err != nil {
		return fmt.Errorf("canary: append sample: %w", err)
	}
	return nil
}

// findAlert returns the canary alert that fired for this round's sample: firing (or already resolved) and
// active no earlier than the sample, so a stale alert of a previous round does not count.
func (c *Canary) findAlert(ctx context.Context, since time.Time) (*alerts.Alert, error) {
	list, err := c.deps.Alerts.AlertsByRule(ctx, RuleName, since)
	if err != nil {
		return nil, fmt.Errorf("canary: look up alerts: %w", err)
	}
	for i := range list {
		a := list[i]
		if a.Rule != RuleName || a.FiredAt.IsZero() || a.ActiveAt.Before(since.Truncate(time.Millisecond)) {
			continue
		}
		if a.State == alerts.StateFiring || a.State == alerts.StateResolved {
			return &a, nil
		}
	}
	return nil, nil
}

// findDelivery reports whether a firing notification for the alert was delivered to a receiver. The built-in
// MQTT publish (notify.mqtt.enabled) does not count: it is in-process and always succeeds, so it would pass
// the canary while every webhook is failing.
func (c *Canary) findDelivery(ctx context.Context, a *alerts.Alert, since time.Time) (bool, error) {
	list, err := c.deps.Deliveries.Deliveries(ctx, notify.DeliveryFilter{Alert: RuleName, Fingerprint: a.Fingerprint, Limit: 100})
	if err != nil {
		return false, fmt.Errorf("canary: look up deliveries: %w", err)
	}
	for _, d := range list {
		if d.State == "firing" && d.Status == notify.StatusDelivered && d.Receiver != notify.MQTTReceiverName &&
			!d.CreatedAt.Before(since.Truncate(time.Millisecond)) {
			return true, nil
		}
	}
	return false, nil
}

func (c *Canary) record(ctx context.Context, start time.Time, res roundResult, err error) {
	c.mu.Lock()
	wasOK := c.status.OK || c.status.Rounds == 0
	c.status.Rounds++
	c.status.LastRound = start
	if err == nil {
		c.status.OK, c.status.LastError = true, ""
		c.status.LastSuccess = start
		c.status.FireLatency, c.status.DeliveryLatency = res.fire, res.deliver
		c.lastFallback = time.Time{}
		c.mu.Unlock()
		c.ok.Set(1)
		c.lastOK.Set(float64(start.UnixNano()) / 1e9)
		c.rounds.WithLabelValues("ok").Inc()
		if !wasOK {
			c.log.Info("canary round passed again: alerts fire and notifications are delivered")
		}
		return
	}
	c.status.OK, c.status.LastError = false, err.Error()
	now := c.clock.Now()
	tell := c.cfg.FallbackReceiver != "" && (c.lastFallback.IsZero() || now.Sub(c.lastFallback) >= c.cfg.RepeatInterval)
	if tell {
		c.lastFallback = now
	}
	lastSuccess := c.status.LastSuccess
	c.mu.Unlock()

	c.ok.Set(0)
	result := "append_error"
	var re *roundError
	if errors.As(err, &re) {
		result = re.result
	}
	c.rounds.WithLabelValues(result).Inc()
	if wasOK {
		c.log.Error("canary round failed: the alerting path may be broken", "err", err)
	}
	if !tell {
		return
	}
	if ferr := c.deps.Fallback.Notify(ctx, fallbackMessage(err, lastSuccess)); ferr != nil {
		c.fallbacks.WithLabelValues("failed").Inc()
		c.log.Error("telling the fallback receiver failed", "receiver", c.cfg.FallbackReceiver, "err", ferr)
		c.mu.Lock()
		c.lastFallback = time.Time{} // try again next round
		c.mu.Unlock()
		return
	}
	c.fallbacks.WithLabelValues("sent").Inc()
}

func fallbackMessage(err error, lastSuccess time.Time) string {
	var b strings.Builder
	b.WriteString("citywatch canary failed: ")
	b.WriteString(err.Error())
	b.WriteString(". Alerts may not be firing or notifications may not be delivered.")
	if lastSuccess.IsZero() {
		b.WriteString(" No canary round has passed since start.")
	} else {
		fmt.Fprintf(&b, " Last passing round: %s.", lastSuccess.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// AlertSource is what ManagerAlerts needs; *alerts.Manager implements it.
type AlertSource interface {
	Alerts(ctx context.Context, f alerts.AlertFilter) ([]alerts.Alert, error)
}

// ManagerAlerts adapts an alert history (*alerts.Manager) to AlertLookup by filtering on the rule name.
func ManagerAlerts(src AlertSource) AlertLookup { return managerAlerts{src} }

type managerAlerts struct{ src AlertSource }

func (m managerAlerts) AlertsByRule(ctx context.Context, rule string, since time.Time) ([]alerts.Alert, error) {
	// The history is newest first; the canary's alert of this round is among the newest, but other rules'
	// alerts may be too: ask for many and filter.
	list, err := m.src.Alerts(ctx, alerts.AlertFilter{Since: since, Limit: 10000})
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, a := range list {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out, nil
}
