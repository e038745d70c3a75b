// Package remotewrite forwards samples to a Prometheus remote-write receiver (VictoriaMetrics, Mimir, Thanos
// Receive, Cortex, Prometheus itself) through a durable on-disk queue (store/diskqueue, the same queue as the
// InfluxDB forwarder), so nothing is lost while the receiver or the uplink is down for hours or citywatch is
// killed.
//
// Append drops samples the write_relabel rules exclude, adds the external labels (edge, site) to series that
// lack them, encodes the rest as a prometheus.WriteRequest (prompb) and returns once the record is in the queue
// file. A sender goroutine reads batches in order, joins their records into one request and writes it with
// Prometheus' own remote-write client (storage/remote), as remote write 1.0 or 2.0. Delivery is
// at-least-once; receivers drop a replayed sample with the same series, timestamp and value. Per response:
// 2xx → acknowledged; network errors, 5xx and 429 → retried with exponential backoff and jitter, honouring
// Retry-After; 401/403 (unauthorized), 404, 408 and refused redirects → retried, data kept; 413 → the batch is
// split; 415 to a 2.0 request, or a 2xx without the 2.0 written-samples header → 1.0 from then on (the
// batch is sent again); 400 and every other 4xx → the refused series (found by
// splitting the batch) go to the dead-letter file and the rest is written.
package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"

	"citywatch/store"
	"citywatch/store/diskqueue"
)

// DeadLetterFile is the name of the dead-letter file in Config.QueueDir: Prometheus text exposition lines
// with millisecond timestamps, each preceded by "# <RFC 3339 time> <HTTP status> <server message>".
const DeadLetterFile = "dead-letter.prom"

// Deps are the Writer's dependencies.
type Deps struct {
	// Logger gets the attributes component=remote_write and endpoint=<name>. Nil discards.
	Logger *slog.Logger
	// Registerer receives the citywatch_remote_write_* metrics, labelled endpoint=<name>. Nil registers
	// nothing.
	Registerer prometheus.Registerer
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done (its error). Nil means a timer; tests record the delays instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// State is the Writer's connection state, for /readyz detail.
type State string

// Writer states.
const (
	// StateStarting means no write has been attempted yet.
	StateStarting State = "starting"
	// StateOK means the last write succeeded (possibly with refused series dead-lettered).
	StateOK State = "ok"
	// StateUnreachable means the last write failed for the network, a 5xx or throttling; it is retried.
	StateUnreachable State = "unreachable"
	// StateUnauthorized means the receiver answered 401/403. Data is kept and retried.
	StateUnauthorized State = "unauthorized"
	// StateFailing means another retried error, such as 404 for a wrong path or a refused redirect.
	StateFailing State = "failing"
	// StateClosed means Close was called.
	StateClosed State = "closed"
)

// Status is a snapshot of the Writer for health endpoints. It never contains credentials.
type Status struct {
	// Name is the configured endpoint name.
	Name string
	// State is the connection state.
	State State
	// Up is true when the last write succeeded.
	Up bool
	// Protocol is the protobuf message written now (MessageV1 or MessageV2).
	Protocol string
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
	// QueueDiskBytes is the size of the queue's segment files.
	QueueDiskBytes int64
	// OldestAge is how long the oldest waiting sample has been queued.
	OldestAge time.Duration
	// Sent, DeadLettered, Dropped and RelabelDropped count samples since New.
	Sent, DeadLettered, Dropped, RelabelDropped int64
}

// Writer forwards to one remote-write endpoint. It implements store.Appender.
type Writer struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	q     *diskqueue.Queue
	dl    *diskqueue.DeadLetter
	m     *metrics
	rl    *relabeler
	encs  sync.Pool

	// Sender state, owned by the sender goroutine.
	client   storer
	protocol atomic.Value // string
	raw      []byte

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

	sent, deadLettered, relabelDropped atomic.Int64
}

// New validates cfg, opens (and recovers) the queue, builds the client and registers the metrics. Start begins
// sending.
func New(cfg Config, deps Deps) (*Writer, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, log: deps.Logger, now: deps.Now, sleep: deps.Sleep, state: StateStarting}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With("component", "remote_write", "endpoint", cfg.Name)
	if w.now == nil {
		w.now = time.Now
	}
	if w.sleep == nil {
		w.sleep = sleep
	}
	w.rl, _ = compileRelabel(cfg.Relabel) // validated by applyDefaults
	ext := cfg.externalLabels()
	w.encs.New = func() any { return newEncoder(ext) }
	var err error
	if w.client, err = newClient(&w.cfg, cfg.ProtobufMessage); err != nil {
		return nil, err
	}
	w.protocol.Store(cfg.ProtobufMessage)
	q, err := diskqueue.Open(diskqueue.Config{
		Dir:          cfg.QueueDir,
		MaxBytes:     cfg.QueueMaxBytes,
		SegmentBytes: cfg.QueueSegmentBytes,
		Policy:       diskqueue.Policy(cfg.QueueFullPolicy),
		SyncInterval: cfg.FlushInterval,
	}, diskqueue.Deps{Logger: w.log, Now: w.now})
	if err != nil {
		return nil, fmt.Errorf("remotewrite %s: queue: %w", cfg.Name, err)
	}
	w.q = q
	w.dl = diskqueue.NewDeadLetter(filepath.Join(cfg.QueueDir, DeadLetterFile), cfg.DeadLetterMaxBytes)
	w.m = newMetrics(deps.Registerer, w)
	if st := q.Stats(); st.Items > 0 {
		w.log.Info("queue recovered", "samples", st.Items, "bytes", st.Bytes, "repairs", st.Repairs)
	}
	return w, nil
}

// Name is the configured endpoint name.
func (w *Writer) Name() string { return w.cfg.Name }

// Start starts the sender. It is an error to call it twice or after Close.
func (w *Writer) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("remotewrite: writer closed")
	}
	if w.started {
		return errors.New("remotewrite: writer already started")
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
	if err := w.q.Close(); err != nil {
		return fmt.Errorf("remotewrite %s: close: %w", w.cfg.Name, err)
	}
	return nil
}

// Append queues samples; it returns once they are in the queue file (they survive the process being killed;
// fsync follows within FlushInterval). Samples a write_relabel rule drops are counted and skipped. Samples no
// receiver can take (empty or non-UTF-8 names and values) are counted, skipped and reported through a
// *store.RejectedError after the others are queued. With QueueFullPolicy "block" it waits for space until ctx
// is done.
func (w *Writer) Append(ctx context.Context, samples []store.Sample) error {
	enc := w.encs.Get().(*encoder)
	defer w.encs.Put(enc)
	enc.reset()
	var rejected *store.RejectedError
	dropped := 0
	for i := range samples {
		s := &samples[i]
		if !w.rl.forward(s.Name) {
			dropped++
			continue
		}
		if err := enc.add(s); err != nil {
			w.m.rejected.WithLabelValues(reasonInvalid).Inc()
			if rejected == nil {
				rejected = &store.RejectedError{Reason: reasonInvalid, Err: fmt.Errorf("remotewrite: %w", err)}
			}
			rejected.Count++
			continue
		}
		if enc.n >= w.cfg.BatchSize {
			if err := w.flush(ctx, enc); err != nil {
				return err
			}
		}
	}
	if dropped > 0 {
		w.relabelDropped.Add(int64(dropped))
		w.m.relabeled.Add(float64(dropped))
	}
	if enc.n > 0 {
		if err := w.flush(ctx, enc); err != nil {
			return err
		}
	}
	if rejected != nil {
		w.logRejected(rejected)
		return rejected
	}
	return nil
}

// flush queues the encoder's pending request as one record, split in halves while it is larger than a record
// may be.
func (w *Writer) flush(ctx context.Context, enc *encoder) error {
	defer enc.reset()
	return w.queueSeries(ctx, enc, enc.req.Timeseries, enc.n)
}

func (w *Writer) queueSeries(ctx context.Context, enc *encoder, series []prompb.TimeSeries, n int) error {
	enc.req.Timeseries = series
	rec, err := enc.record(enc.rec[:0])
	if err != nil {
		return err
	}
	enc.rec = rec
	if len(rec) > w.q.MaxRecordBytes() && len(series) > 1 {
		mid := len(series) / 2
		if err := w.queueSeries(ctx, enc, series[:mid], countPoints(series[:mid])); err != nil {
			return err
		}
		return w.queueSeries(ctx, enc, series[mid:], countPoints(series[mid:]))
	}
	if err := w.q.Append(ctx, n, rec); err != nil {
		return fmt.Errorf("remotewrite %s: queue: %w", w.cfg.Name, err)
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
		w.log.Warn("samples not forwardable by remote write", "count", r.Count, "reason", r.Reason, "err", r.Err)
	}
}

// Status returns the Writer's state and queue figures.
func (w *Writer) Status() Status {
	st := w.q.Stats()
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Status{
		Name:           w.cfg.Name,
		State:          w.state,
		Up:             w.state == StateOK,
		Protocol:       w.protocol.Load().(string),
		LastError:      w.lastErr,
		LastErrorTime:  w.lastErrTime,
		LastSuccess:    w.lastSuccess,
		QueueSamples:   st.Items,
		QueueBytes:     st.Bytes,
		QueueDiskBytes: st.DiskBytes,
		Sent:           w.sent.Load(),
		DeadLettered:   w.deadLettered.Load(),
		Dropped:        st.DroppedItems,
		RelabelDropped: w.relabelDropped.Load(),
	}
	if !st.Oldest.IsZero() {
		s.OldestAge = max(w.now().Sub(st.Oldest), 0)
	}
	return s
}

var _ store.Appender = (*Writer)(nil)
