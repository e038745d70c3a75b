// Package influx forwards samples to InfluxDB (2.x, or 1.8+ through its v2 compatibility API) through a
// durable on-disk queue, so that nothing is lost while InfluxDB or the uplink is down for hours or citywatch
// is killed.
//
// Append encodes samples as line protocol (measurement = sample name, tags = labels plus the static edge/site
// tags, field "value" as float) and returns once they are written to the queue file. A sender goroutine reads
// batches in order and writes them with the client's blocking write API. Delivery is at-least-once; since
// InfluxDB overwrites a point with the same series and timestamp, replays do not double-count. Per response:
// 400/422 → the refused lines (named in the server's message, else found by bisection) go to the dead-letter
// file with the message and the rest of the batch is written; 401/403 → unauthorized state, retried with
// backoff; 429/503 → Retry-After honoured; network errors and 5xx → exponential backoff with jitter. Queued
// data is kept in every case but 400/422.
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"citywatch/store"
	"citywatch/store/diskqueue"
)

// Deps are the Writer's dependencies.
type Deps struct {
	// Logger gets the "component" attribute "influx". Nil discards.
	Logger *slog.Logger
	// Registerer receives the citywatch_influx_* metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// State is the Writer's connection state, for /readyz detail.
type State string

// Writer states.
const (
	// StateStarting means no write has been attempted yet.
	StateStarting State = "starting"
	// StateOK means the last write succeeded (possibly with refused lines dead-lettered).
	StateOK State = "ok"
	// StateUnreachable means the last write failed for the network, a 5xx or throttling; it is retried.
	StateUnreachable State = "unreachable"
	// StateUnauthorized means InfluxDB answered 401/403: the token is wrong or lacks permission. Data is kept
	// and retried.
	StateUnauthorized State = "unauthorized"
	// StateFailing means another error, such as 404 for a missing bucket; it is retried.
	StateFailing State = "failing"
	// StateClosed means Close was called.
	StateClosed State = "closed"
)

// Status is a snapshot of the Writer for health endpoints. It never contains the token.
type Status struct {
	// State is the connection state.
	State State
	// Up is true when the last write succeeded.
	Up bool
	// LastError is the last write error, empty after a success.
	LastError string
	// LastErrorTime is when LastError happened.
	LastErrorTime time.Time
	// LastSuccess is when a write last succeeded.
	LastSuccess time.Time
	// QueueSamples is the number of samples waiting in the queue.
	QueueSamples int64
	// QueueBytes is the size of the waiting records.
	QueueBytes int64
	// OldestAge is how long the oldest waiting sample has been queued.
	OldestAge time.Duration
	// Sent, DeadLettered and Dropped count samples since New.
	Sent, DeadLettered, Dropped int64
}

// Writer is the InfluxDB backend. It implements store.Appender.
type Writer struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	q      *diskqueue.Queue
	dl     *deadLetter
	m      *metrics
	encs   sync.Pool
	prec   byte
	client influxdb2.Client
	apis   map[byte]lineWriter
	// extraClients serve records queued with another precision than configured now.
	extraClients []influxdb2.Client

	mu            sync.Mutex
	state         State
	lastErr       string
	lastErrTime   time.Time
	lastSuccess   time.Time
	started       bool
	closed        bool
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	nextReplay    time.Time
	rejectLogTime time.Time

	sent, deadLettered atomic.Int64
}

// New validates cfg, opens (and recovers) the queue and registers the metrics. Start begins sending.
func New(cfg Config, deps Deps) (*Writer, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, log: deps.Logger, now: deps.Now, state: StateStarting, apis: map[byte]lineWriter{}}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With("component", "influx")
	if w.now == nil {
		w.now = time.Now
	}
	p, _ := parsePrecision(cfg.Precision)
	w.prec = byte(p)
	static := sortedTags(cfg.staticTags())
	w.encs.New = func() any { return newEncoder(static, p) }
	q, err := diskqueue.Open(diskqueue.Config{
		Dir:          cfg.QueueDir,
		MaxBytes:     cfg.QueueMaxBytes,
		SegmentBytes: cfg.QueueSegmentBytes,
		Policy:       diskqueue.Policy(cfg.QueueFullPolicy),
		SyncInterval: cfg.FlushInterval,
	}, diskqueue.Deps{Logger: w.log, Now: w.now})
	if err != nil {
		return nil, fmt.Errorf("influx: queue: %w", err)
	}
	w.q = q
	w.dl = newDeadLetter(cfg.QueueDir, cfg.DeadLetterMaxBytes)
	w.client = newClient(cfg, w.prec)
	w.m = newMetrics(deps.Registerer, w)
	if st := q.Stats(); st.Items > 0 {
		w.log.Info("queue recovered", "samples", st.Items, "bytes", st.Bytes, "repairs", st.Repairs)
	}
	return w, nil
}

// Start starts the sender. It is an error to call it twice or after Close.
func (w *Writer) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("influx: writer closed")
	}
	if w.started {
		return errors.New("influx: writer already started")
	}
	w.started = true
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.run(ctx)
	}()
	return nil
}

// Close stops the sender (a batch in flight stays queued and is sent again after a restart), fsyncs and
// closes the queue. It is safe to call more than once and returns after the sender has exited.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.state = StateClosed
	cancel := w.cancel
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	w.wg.Wait()
	err := w.q.Close()
	w.client.Close()
	for _, c := range w.extraClients {
		c.Close()
	}
	if err != nil {
		return fmt.Errorf("influx: close: %w", err)
	}
	return nil
}

// Append encodes samples and writes them to the queue; it returns once they are in the queue file (they
// survive the process being killed; fsync follows within FlushInterval). Samples that cannot be written to
// InfluxDB at all (NaN/±Inf values, names or labels not encodable as line protocol) are counted, skipped and
// reported through a *store.RejectedError after the others are queued. With QueueFullPolicy "block" it
// waits for space until ctx is done.
func (w *Writer) Append(ctx context.Context, samples []store.Sample) error {
	enc := w.encs.Get().(*encoder)
	defer w.encs.Put(enc)
	maxRec := w.q.MaxRecordBytes()
	buf := append(make([]byte, 0, 64*min(len(samples), w.cfg.BatchSize)+1), w.prec)
	n := 0
	var rejected *store.RejectedError
	for i := range samples {
		before := len(buf)
		var reason string
		var err error
		buf, reason, err = enc.encode(buf, &samples[i])
		if err != nil {
			w.m.rejected.WithLabelValues(reason).Inc()
			if rejected == nil {
				rejected = &store.RejectedError{Reason: reason, Err: fmt.Errorf("influx: sample %s: %w", samples[i].Name, err)}
			}
			rejected.Count++
			continue
		}
		if len(buf) > maxRec && n > 0 {
			// The line does not fit: queue what came before, start the next record with it.
			line := append([]byte{w.prec}, buf[before:]...)
			if err := w.q.Append(ctx, n, buf[:before]); err != nil {
				return fmt.Errorf("influx: queue: %w", err)
			}
			buf, n = line, 0
		}
		if len(buf) > maxRec {
			w.m.rejected.WithLabelValues(reasonInvalid).Inc()
			if rejected == nil {
				rejected = &store.RejectedError{Reason: reasonInvalid, Err: fmt.Errorf("influx: sample %s: line too long", samples[i].Name)}
			}
			rejected.Count++
			buf = buf[:1]
			continue
		}
		n++
		if n == w.cfg.BatchSize {
			if err := w.q.Append(ctx, n, buf); err != nil {
				return fmt.Errorf("influx: queue: %w", err)
			}
			buf, n = buf[:1], 0
		}
	}
	if n > 0 {
		if err := w.q.Append(ctx, n, buf); err != nil {
			return fmt.Errorf("influx: queue: %w", err)
		}
	}
	if rejected != nil {
		w.logRejected(rejected)
		return rejected
	}
	return nil
}

// logRejected logs refused samples at most every 10s; the counter has them all.
func (w *Writer) logRejected(r *store.RejectedError) {
	w.mu.Lock()
	now := w.now()
	due := now.Sub(w.rejectLogTime) >= 10*time.Second
	if due {
		w.rejectLogTime = now
	}
	w.mu.Unlock()
	if due {
		w.log.Warn("samples not encodable as line protocol", "count", r.Count, "reason", r.Reason, "err", r.Err)
	}
}

// Status returns the Writer's state and queue figures.
func (w *Writer) Status() Status {
	st := w.q.Stats()
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Status{
		State:         w.state,
		Up:            w.state == StateOK,
		LastError:     w.lastErr,
		LastErrorTime: w.lastErrTime,
		LastSuccess:   w.lastSuccess,
		QueueSamples:  st.Items,
		QueueBytes:    st.Bytes,
		Sent:          w.sent.Load(),
		DeadLettered:  w.deadLettered.Load(),
		Dropped:       st.DroppedItems,
	}
	if !st.Oldest.IsZero() {
		s.OldestAge = max(w.now().Sub(st.Oldest), 0)
	}
	return s
}

var _ store.Appender = (*Writer)(nil)
