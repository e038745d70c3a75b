package notify

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// job is one claimed delivery row.
type job struct {
	id         int64
	key        string
	change     []byte
	attempts   int // before this attempt
	retrySince time.Time
	receiver   string
}

type resultKind int

const (
	resDelivered resultKind = iota
	resRetry                // failed, try again at next (or fail if past RetryFor)
	resDead                 // permanent failure
	resFailed               // retried for RetryFor without success
	resRelease              // not attempted (circuit open, paused, shutting down): back to pending at next
)

type result struct {
	job        job
	rs         *receiverState // whose worker made it: a reload may have replaced the receiver of that name
	kind       resultKind
	statusCode int
	err        string
	next       time.Time
	at         time.Time
}

// breaker states
const (
	breakerClosed = iota
	breakerOpen
	breakerHalfOpen
)

// receiverState is a receiver's runtime: its HTTP client, worker queue, circuit breaker and pause.
type receiverState struct {
	cr       *compiledReceiver
	notifier Notifier
	jobs     chan job
	capacity int // rows claimed at once (in flight + queued)
	inflight int // owned by the run loop
	retired  atomic.Bool
	workers  bool // its workers were started (run loop, or Start)

	mu          sync.Mutex
	failures    int
	state       int
	openUntil   time.Time
	probing     bool
	pausedUntil time.Time
	lastErr     string
}

func newReceiverState(cr *compiledReceiver, env integrationEnv) (*receiverState, error) {
	n, err := newNotifier(cr, env)
	if err != nil {
		return nil, err
	}
	capacity := cr.MaxConcurrency * 4
	return &receiverState{cr: cr, notifier: n, capacity: capacity, jobs: make(chan job, capacity)}, nil
}

// claimable is how many rows the run loop may claim now.
func (rs *receiverState) claimable(now time.Time) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if now.Before(rs.pausedUntil) {
		return 0
	}
	switch rs.state {
	case breakerOpen:
		if now.Before(rs.openUntil) {
			return 0
		}
		if rs.inflight == 0 {
			return 1 // half-open probe
		}
		return 0
	case breakerHalfOpen:
		return 0
	}
	return rs.capacity - rs.inflight
}

// admit decides whether a worker may send now; otherwise it returns when to try again.
func (rs *receiverState) admit(now time.Time) (bool, time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if now.Before(rs.pausedUntil) {
		return false, rs.pausedUntil
	}
	switch rs.state {
	case breakerOpen:
		if now.Before(rs.openUntil) {
			return false, rs.openUntil
		}
		rs.state, rs.probing = breakerHalfOpen, true
		return true, time.Time{}
	case breakerHalfOpen:
		return false, now.Add(time.Second)
	}
	return true, time.Time{}
}

// record feeds an attempt's outcome to the breaker; it reports whether the circuit is now open.
func (rs *receiverState) record(ok bool, now time.Time, threshold int, cooldown time.Duration) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if ok {
		rs.failures, rs.state, rs.probing = 0, breakerClosed, false
		return false
	}
	rs.failures++
	if rs.state == breakerHalfOpen || (threshold > 0 && rs.failures >= threshold) {
		rs.state, rs.openUntil, rs.probing = breakerOpen, now.Add(cooldown), false
	}
	return rs.state == breakerOpen
}

// pause holds all deliveries to the receiver until t (Retry-After).
func (rs *receiverState) pause(t time.Time) {
	rs.mu.Lock()
	if t.After(rs.pausedUntil) {
		rs.pausedUntil = t
	}
	rs.mu.Unlock()
}

func (rs *receiverState) circuitOpen() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.state != breakerClosed
}

func (o *Outbox) worker(ctx context.Context, rs *receiverState) {
	defer o.workers.Done()
	for j := range rs.jobs {
		if ctx.Err() != nil {
			continue // Close puts unattempted rows back to pending
		}
		if rs.retired.Load() { // removed or changed by SetConfig: back to pending, for the new receiver if any
			now := o.clock.Now()
			o.results <- result{job: j, rs: rs, kind: resRelease, next: now, at: now}
			continue
		}
		res := o.attempt(ctx, rs, j)
		res.rs = rs
		o.results <- res
	}
}

// attempt makes one delivery attempt through the receiver's integration and records its outcome.
func (o *Outbox) attempt(ctx context.Context, rs *receiverState, j job) result {
	now := o.clock.Now()
	if ok, next := rs.admit(now); !ok {
		return result{job: j, kind: resRelease, next: next, at: now}
	}
	var status int
	m := Message{Key: j.key, status: &status}
	if err := json.Unmarshal(j.change, &m.change); err != nil {
		return o.finish(rs, j, result{job: j, kind: resDead, err: "stored change is not valid JSON: " + err.Error()}, reasonRenderError, now)
	}
	start := time.Now()
	retry, err := rs.notifier.Notify(ctx, m)
	o.m.duration.WithLabelValues(rs.cr.Name).Observe(time.Since(start).Seconds())
	res, outcome := o.result(rs, j, retry, err)
	if err == nil {
		res.statusCode = status
	}
	if ctx.Err() != nil && res.kind != resDelivered {
		return result{job: j, kind: resRelease, next: now, at: now} // shutting down: not the receiver's fault
	}
	return o.finish(rs, j, res, outcome, o.clock.Now())
}

// result turns an integration's (retry, err) into a result and its outcome word, pausing the receiver for
// the Retry-After it asked for (capped at Config.MaxRetryAfter).
func (o *Outbox) result(rs *receiverState, j job, retry bool, err error) (result, string) {
	reason, code, retryAfter := classify(retry, err)
	r := result{job: j, kind: resDelivered, statusCode: code}
	if err == nil {
		return r, reason
	}
	r.kind, r.err = resDead, err.Error()
	if retry {
		r.kind = resRetry
	}
	if retry && retryAfter > 0 {
		r.next = o.clock.Now().Add(min(retryAfter, o.cc.Load().cfg.MaxRetryAfter))
		rs.pause(r.next)
	}
	return r, reason
}

// finish updates breaker, metrics and logs, and fills in the retry time.
func (o *Outbox) finish(rs *receiverState, j job, r result, outcome string, now time.Time) result {
	cfg := o.cc.Load().cfg
	name := rs.cr.Name
	r.job, r.at = j, now
	o.m.attempts.WithLabelValues(name, outcome).Inc()
	// Only failures that say the receiver is unhealthy count towards its breaker; a 4xx or 429 means it is up.
	switch outcome {
	case "success", "http_4xx", "rate_limited", "api_error", "render_error", "blocked", "redirect":
		if rs.record(true, now, cfg.BreakerThreshold, cfg.BreakerCooldown) {
			o.m.circuitOpen.WithLabelValues(name).Set(1)
		} else {
			o.m.circuitOpen.WithLabelValues(name).Set(0)
		}
	default:
		wasOpen := rs.circuitOpen()
		if rs.record(false, now, cfg.BreakerThreshold, cfg.BreakerCooldown) {
			o.m.circuitOpen.WithLabelValues(name).Set(1)
			if !wasOpen {
				o.log.Warn("circuit opened: pausing deliveries to receiver", "receiver", name, "cooldown", cfg.BreakerCooldown)
			}
		}
	}
	if r.kind == resRetry && r.next.IsZero() {
		r.next = now.Add(o.backoff(j.attempts + 1))
	}
	if r.kind == resRetry && now.Sub(j.retrySince) >= cfg.RetryFor {
		r.kind = resFailed
		r.err = "gave up after retrying for " + cfg.RetryFor.String() + ": " + r.err
	}
	o.logOutcome(rs, r)
	return r
}

// backoff is exponential from MinBackoff, capped at MaxBackoff, with equal jitter (half fixed, half random)
// so many rows failing together do not retry in lockstep.
func (o *Outbox) backoff(attempt int) time.Duration {
	cfg := o.cc.Load().cfg
	d := cfg.MinBackoff
	for i := 1; i < attempt && d < cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, cfg.MaxBackoff)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// logOutcome logs failures only when a receiver's error changes, and its recovery.
func (o *Outbox) logOutcome(rs *receiverState, r result) {
	rs.mu.Lock()
	prev := rs.lastErr
	if r.kind == resDelivered {
		rs.lastErr = ""
	} else {
		rs.lastErr = r.err
	}
	rs.mu.Unlock()
	switch {
	case r.kind == resDelivered && prev != "":
		o.log.Info("receiver recovered", "receiver", rs.cr.Name)
	case r.kind == resFailed:
		o.log.Error("delivery failed, giving up (replay to retry)", "receiver", rs.cr.Name, "delivery", r.job.id, "status", r.statusCode, "err", r.err)
	case r.kind == resDead:
		o.log.Warn("delivery rejected, not retrying", "receiver", rs.cr.Name, "delivery", r.job.id, "status", r.statusCode, "err", r.err)
	case r.kind == resRetry && r.err != prev:
		o.log.Warn("delivery failed, will retry", "receiver", rs.cr.Name, "delivery", r.job.id, "status", r.statusCode, "err", r.err)
	}
}
