// Package forward is a durable forwarder: a store/diskqueue queue and the sender loop that reads its batches
// in order, paces replays, hands each batch to a receiver-specific delivery function and acknowledges it,
// plus what every delivery function needs: retry backoff with jitter, Retry-After, the connection state
// for /readyz and the counters. The InfluxDB (store/influx) and remote-write (store/remotewrite) backends
// are a Forwarder each with their own encoding and response classification.
package forward

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
	"citywatch/store/diskqueue"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("writer closed")

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("writer already started")

// State is a forwarder's connection state, for /readyz detail.
type State string

// Forwarder states.
const (
	// StateStarting means no write has been attempted yet.
	StateStarting State = "starting"
	// StateOK means the last write succeeded (possibly with refused data dead-lettered).
	StateOK State = "ok"
	// StateUnreachable means the last write failed for the network, a 5xx or throttling; it is retried.
	StateUnreachable State = "unreachable"
	// StateUnauthorized means the receiver answered 401/403. Data is kept and retried.
	StateUnauthorized State = "unauthorized"
	// StateFailing means another retried error, such as 404 for a wrong path.
	StateFailing State = "failing"
	// StateClosed means Close was called.
	StateClosed State = "closed"
)

// DeliverFunc writes every record of b, retrying until each is written or dead-lettered. It returns only
// nil or ctx's error; then b stays queued and is sent again after a restart.
type DeliverFunc func(ctx context.Context, b *diskqueue.Batch) error

// Config configures a Forwarder. The owning backend has validated it and set its defaults.
type Config struct {
	// Settings are the queue, batch and retry settings (after ApplyDefaults and Validate). New reads them
	// once.
	Settings Settings
	// MaxBatchBytes bounds the records of one batch besides the batch size.
	MaxBatchBytes int
	// ReplayRate caps the items per second sent while the queue holds a backlog. 0 means no cap.
	ReplayRate float64
	// Receiver names the receiver in log messages ("InfluxDB writes recovered", "remote write failed").
	Receiver string
	// Deliver writes one batch.
	Deliver DeliverFunc
}

// Metrics are the counters a Forwarder keeps. The backend names and registers them.
type Metrics struct {
	// Sent counts items the receiver accepted.
	Sent prometheus.Counter
	// DeadLettered counts items refused for good.
	DeadLettered prometheus.Counter
	// Retries counts failed attempts by reason (network, server, throttled, unauthorized, other).
	Retries *prometheus.CounterVec
	// Up is 1 while the last write succeeded.
	Up prometheus.Gauge
}

// Deps are a Forwarder's dependencies.
type Deps struct {
	// Logger carries the backend's attributes. Nil discards.
	Logger *slog.Logger
	// Clock tells the time (states, replay pacing, the queue's stamps) and runs the queue's timers; nil is the
	// real clock.
	Clock clock.Clock
	// Sleep waits d or until ctx is done (its error). Nil means clock.Sleep on Clock; tests record the delays
	// instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// NewMetrics registers the metrics once the queue is open, so that a failed New registers nothing.
	NewMetrics func(*Forwarder) Metrics
}

// Forwarder owns a durable queue and the goroutine that sends it.
type Forwarder struct {
	cfg   Config
	log   *slog.Logger
	clk   clock.Clock
	sleep func(ctx context.Context, d time.Duration) error
	q     *diskqueue.Queue
	m     Metrics
	// batch, flush, retryInitial and retryMax are read from cfg.Settings by New.
	batch                  int
	flush                  time.Duration
	retryInitial, retryMax time.Duration

	// nextReplay is owned by the sender goroutine.
	nextReplay time.Time

	mu            sync.Mutex
	state         State
	lastErr       string
	lastErrTime   time.Time
	lastSuccess   time.Time
	started       bool
	closed        bool
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	rejectLogTime time.Time

	sent, deadLettered atomic.Int64
}

// New opens (and recovers) the queue and registers the metrics. Start begins sending.
func New(cfg Config, deps Deps) (*Forwarder, error) {
	st := cfg.Settings
	f := &Forwarder{cfg: cfg, batch: st.BatchSize, flush: st.FlushInterval, retryInitial: st.RetryInitial,
		retryMax: st.RetryMax, log: logx.Or(deps.Logger), clk: clock.Or(deps.Clock), sleep: deps.Sleep, state: StateStarting}
	if f.sleep == nil {
		f.sleep = func(ctx context.Context, d time.Duration) error { return clock.Sleep(ctx, f.clk, d) }
	}
	q, err := diskqueue.Open(st.Queue(), diskqueue.Deps{Logger: f.log, Clock: f.clk})
	if err != nil {
		return nil, err
	}
	f.q = q
	if deps.NewMetrics != nil {
		f.m = deps.NewMetrics(f)
	} else {
		f.m = unregisteredMetrics()
	}
	if st := q.Stats(); st.Items > 0 {
		f.log.Info("queue recovered", "samples", st.Items, "bytes", st.Bytes, "repairs", st.Repairs)
	}
	return f, nil
}

func unregisteredMetrics() Metrics {
	return Metrics{
		Sent:         prometheus.NewCounter(prometheus.CounterOpts{Name: "sent"}),
		DeadLettered: prometheus.NewCounter(prometheus.CounterOpts{Name: "dead_lettered"}),
		Retries:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "retries"}, []string{"reason"}),
		Up:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "up"}),
	}
}

// Queue is the durable queue, for appending and for queue metrics.
func (f *Forwarder) Queue() *diskqueue.Queue { return f.q }

// Now reads the forwarder's clock.
func (f *Forwarder) Now() time.Time { return f.clk.Now() }

// Sleep waits d or until ctx is done, with the forwarder's Deps.Sleep.
func (f *Forwarder) Sleep(ctx context.Context, d time.Duration) error { return f.sleep(ctx, d) }

// Start starts the sender. It returns ErrStarted when called twice and ErrClosed after Close.
func (f *Forwarder) Start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if f.started {
		return ErrStarted
	}
	f.started = true
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.run(ctx)
	}()
	return nil
}

// Close stops the sender (a batch in flight stays queued and is sent again after a restart), fsyncs and
// closes the queue. It is safe to call more than once and returns after the sender has exited.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.state = StateClosed
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
	return f.q.Close()
}

// run sends queued batches in order until ctx is cancelled.
func (f *Forwarder) run(ctx context.Context) {
	for {
		b, err := f.q.Read(ctx, f.batch, f.cfg.MaxBatchBytes, f.flush)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, diskqueue.ErrClosed) {
				return
			}
			// A disk problem: keep trying rather than stall for good.
			f.log.Error("queue read failed; retrying", "err", err)
			if f.sleep(ctx, f.retryMax) != nil {
				return
			}
			continue
		}
		start, err := f.pace(ctx, b)
		if err != nil {
			return
		}
		if err := f.cfg.Deliver(ctx, b); err != nil {
			return // cancelled: the batch stays queued
		}
		if !start.IsZero() {
			// Credit does not accumulate while a batch is retried through an outage.
			f.nextReplay = start.Add(time.Duration(float64(b.Items) / f.cfg.ReplayRate * float64(time.Second)))
			if now := f.clk.Now(); now.After(f.nextReplay) {
				f.nextReplay = now
			}
		}
		for err := f.q.Ack(b); err != nil; err = f.q.Ack(b) {
			if errors.Is(err, diskqueue.ErrClosed) {
				return // not acknowledged: sent again after a restart, which the receiver absorbs
			}
			f.log.Error("queue ack failed; retrying", "err", err)
			if f.sleep(ctx, f.retryMax) != nil {
				return
			}
		}
	}
}

// pace applies ReplayRate while the queue holds a backlog: it waits until the batch's scheduled start and
// returns that start, or the zero time when the batch is not paced.
func (f *Forwarder) pace(ctx context.Context, b *diskqueue.Batch) (time.Time, error) {
	if f.cfg.ReplayRate <= 0 || !b.Backlog {
		f.nextReplay = time.Time{}
		return time.Time{}, nil
	}
	now := f.clk.Now()
	start := f.nextReplay
	if start.Before(now) {
		start = now
	}
	return start, f.sleep(ctx, start.Sub(now))
}

// Succeeded records a successful write of n items (0 after dead-lettering the refused ones).
func (f *Forwarder) Succeeded(n int) {
	f.sent.Add(int64(n))
	f.m.Sent.Add(float64(n))
	f.m.Up.Set(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != StateOK && f.state != StateStarting && !f.closed {
		f.log.Info(f.cfg.Receiver+" writes recovered", "previous_state", string(f.state))
	}
	if !f.closed {
		f.state = StateOK
	}
	f.lastErr = ""
	f.lastSuccess = f.clk.Now()
}

// Failure is a failed write that will be retried.
type Failure struct {
	// State is the connection state it puts the forwarder in.
	State State
	// Reason is the retries counter's label.
	Reason string
	// Message describes the error on one line, without secrets.
	Message string
	// RetryAfter is the server's Retry-After when HasRetryAfter; it replaces the backoff.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// Failed records a retryable failure of retry attempt attempt (0 first) and returns the delay before the
// next one. It logs only when the state or the error changes.
func (f *Forwarder) Failed(x Failure, attempt int) time.Duration {
	delay := Backoff(f.retryInitial, f.retryMax, attempt)
	if x.HasRetryAfter {
		delay = x.RetryAfter
	}
	f.m.Retries.WithLabelValues(x.Reason).Inc()
	f.m.Up.Set(0)
	f.mu.Lock()
	changed := f.state != x.State || f.lastErr != x.Message
	if !f.closed {
		f.state = x.State
	}
	f.lastErr, f.lastErrTime = x.Message, f.clk.Now()
	f.mu.Unlock()
	if changed {
		f.log.Warn(f.cfg.Receiver+" write failed; data kept, retrying", "state", string(x.State), "err", x.Message, "retry_in", delay)
	}
	return delay
}

// CountDeadLettered counts n items refused for good.
func (f *Forwarder) CountDeadLettered(n int) {
	f.deadLettered.Add(int64(n))
	f.m.DeadLettered.Add(float64(n))
}

// LogRejected logs items refused before queueing at most every 10s, with msg; the backend's counter has
// them all.
func (f *Forwarder) LogRejected(msg string, r *store.RejectedError) {
	f.mu.Lock()
	now := f.clk.Now()
	due := now.Sub(f.rejectLogTime) >= 10*time.Second
	if due {
		f.rejectLogTime = now
	}
	f.mu.Unlock()
	if due {
		f.log.Warn(msg, "count", r.Count, "reason", r.Reason, "err", r.Err)
	}
}

// Status is a snapshot of a Forwarder.
type Status struct {
	// State is the connection state; Up is true when it is StateOK.
	State State
	Up    bool
	// LastError is the last write error, empty after a success; LastErrorTime is when it happened.
	LastError     string
	LastErrorTime time.Time
	// LastSuccess is when a write last succeeded.
	LastSuccess time.Time
	// Queue are the queue's figures.
	Queue diskqueue.Stats
	// OldestAge is how long the oldest waiting item has been queued.
	OldestAge time.Duration
	// Sent and DeadLettered count items since New.
	Sent, DeadLettered int64
}

// Status returns the state and queue figures.
func (f *Forwarder) Status() Status {
	st := f.q.Stats()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Status{
		State:         f.state,
		Up:            f.state == StateOK,
		LastError:     f.lastErr,
		LastErrorTime: f.lastErrTime,
		LastSuccess:   f.lastSuccess,
		Queue:         st,
		Sent:          f.sent.Load(),
		DeadLettered:  f.deadLettered.Load(),
	}
	if !st.Oldest.IsZero() {
		s.OldestAge = max(f.clk.Now().Sub(st.Oldest), 0)
	}
	return s
}
