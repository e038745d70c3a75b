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
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
	"citywatch/store/diskqueue"
	"citywatch/store/forward"
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
	// Clock tells the time (states, dead letters, Retry-After, the queue's stamps) and runs the queue's timers
	// and the retry waits; nil is the real clock.
	Clock clock.Clock
	// Sleep waits d or until ctx is done (its error). Nil means a timer; tests record the delays instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// State is the Writer's connection state, for /readyz detail.
type State = forward.State

// Writer states.
const (
	// StateStarting means no write has been attempted yet.
	StateStarting = forward.StateStarting
	// StateOK means the last write succeeded (possibly with refused series dead-lettered).
	StateOK = forward.StateOK
	// StateUnreachable means the last write failed for the network, a 5xx or throttling; it is retried.
	StateUnreachable = forward.StateUnreachable
	// StateUnauthorized means the receiver answered 401/403. Data is kept and retried.
	StateUnauthorized = forward.StateUnauthorized
	// StateFailing means another retried error, such as 404 for a wrong path or a refused redirect.
	StateFailing = forward.StateFailing
	// StateClosed means Close was called.
	StateClosed = forward.StateClosed
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
	cfg  Config
	log  *slog.Logger
	f    *forward.Forwarder
	dl   *diskqueue.DeadLetter
	m    *metrics
	rl   *relabeler
	encs sync.Pool

	// Sender state, owned by the sender goroutine.
	client   storer
	protocol atomic.Value // string
	raw      []byte

	relabelDropped atomic.Int64
}

// New validates cfg, opens (and recovers) the queue, builds the client and registers the metrics. Start begins
// sending.
func New(cfg Config, deps Deps) (*Writer, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, log: logx.Component(deps.Logger, "remote_write").With("endpoint", cfg.Name)}
	w.rl, _ = compileRelabel(cfg.Relabel) // validated by applyDefaults
	ext := cfg.externalLabels()
	w.encs.New = func() any { return newEncoder(ext) }
	var err error
	if w.client, err = newClient(&w.cfg, cfg.ProtobufMessage); err != nil {
		return nil, err
	}
	w.protocol.Store(cfg.ProtobufMessage)
	f, err := forward.New(cfg.forward(w.deliver), forward.Deps{
		Logger: w.log,
		Clock:  deps.Clock,
		Sleep:  deps.Sleep,
		NewMetrics: func(f *forward.Forwarder) forward.Metrics {
			w.m = newMetrics(deps.Registerer, cfg.Name, f)
			return w.m.Metrics
		},
	})
	if err != nil {
		return nil, fmt.Errorf("remotewrite %s: queue: %w", cfg.Name, err)
	}
	w.f = f
	w.dl = diskqueue.NewDeadLetter(filepath.Join(cfg.QueueDir, DeadLetterFile), cfg.DeadLetterMaxBytes)
	return w, nil
}

// Name is the configured endpoint name.
func (w *Writer) Name() string { return w.cfg.Name }

// Start starts the sender. It is an error to call it twice or after Close.
func (w *Writer) Start() error {
	if err := w.f.Start(); err != nil {
		return fmt.Errorf("remotewrite: %w", err)
	}
	return nil
}

// Close stops the sender (a batch in flight stays queued and is sent again after a restart), fsyncs and
// closes the queue. It is safe to call more than once and returns after the sender has exited.
func (w *Writer) Close() error {
	if err := w.f.Close(); err != nil {
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
		w.f.LogRejected("samples not forwardable by remote write", rejected)
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
	if len(rec) > w.f.Queue().MaxRecordBytes() && len(series) > 1 {
		mid := len(series) / 2
		if err := w.queueSeries(ctx, enc, series[:mid], countPoints(series[:mid])); err != nil {
			return err
		}
		return w.queueSeries(ctx, enc, series[mid:], countPoints(series[mid:]))
	}
	if err := w.f.Queue().Append(ctx, n, rec); err != nil {
		return fmt.Errorf("remotewrite %s: queue: %w", w.cfg.Name, err)
	}
	return nil
}

// Status returns the Writer's state and queue figures.
func (w *Writer) Status() Status {
	st := w.f.Status()
	return Status{
		Name:           w.cfg.Name,
		State:          st.State,
		Up:             st.Up,
		Protocol:       w.protocol.Load().(string),
		LastError:      st.LastError,
		LastErrorTime:  st.LastErrorTime,
		LastSuccess:    st.LastSuccess,
		QueueSamples:   st.Queue.Items,
		QueueBytes:     st.Queue.Bytes,
		QueueDiskBytes: st.Queue.DiskBytes,
		OldestAge:      st.OldestAge,
		Sent:           st.Sent,
		DeadLettered:   st.DeadLettered,
		Dropped:        st.Queue.DroppedItems,
		RelabelDropped: w.relabelDropped.Load(),
	}
}

var _ store.Appender = (*Writer)(nil)
