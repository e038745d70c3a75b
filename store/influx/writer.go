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
	"fmt"
	"log/slog"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
	"citywatch/store/forward"
)

// Deps are the Writer's dependencies.
type Deps struct {
	// Logger gets the "component" attribute "influx". Nil discards.
	Logger *slog.Logger
	// Registerer receives the citywatch_influx_* metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Clock tells the time (states, dead letters, Retry-After, the queue's stamps) and runs the queue's timers
	// and the retry waits; nil is the real clock.
	Clock clock.Clock
}

// State is the Writer's connection state, for /readyz detail.
type State = forward.State

// Writer states.
const (
	// StateStarting means no write has been attempted yet.
	StateStarting = forward.StateStarting
	// StateOK means the last write succeeded (possibly with refused lines dead-lettered).
	StateOK = forward.StateOK
	// StateUnreachable means the last write failed for the network, a 5xx or throttling; it is retried.
	StateUnreachable = forward.StateUnreachable
	// StateUnauthorized means InfluxDB answered 401/403: the token is wrong or lacks permission. Data is kept
	// and retried.
	StateUnauthorized = forward.StateUnauthorized
	// StateFailing means another error, such as 404 for a missing bucket; it is retried.
	StateFailing = forward.StateFailing
	// StateClosed means Close was called.
	StateClosed = forward.StateClosed
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
	f      *forward.Forwarder
	dl     *deadLetter
	m      *metrics
	encs   sync.Pool
	prec   byte
	client influxdb2.Client
	// Sender state, owned by the sender goroutine.
	apis map[byte]lineWriter
	// extraClients serve records queued with another precision than configured now.
	extraClients []influxdb2.Client
	closeClients sync.Once
}

// New validates cfg, opens (and recovers) the queue and registers the metrics. Start begins sending.
func New(cfg Config, deps Deps) (*Writer, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, log: logx.Component(deps.Logger, "influx"), apis: map[byte]lineWriter{}}
	p, _ := parsePrecision(cfg.Precision)
	w.prec = byte(p)
	static := sortedTags(cfg.staticTags())
	w.encs.New = func() any { return newEncoder(static, p) }
	f, err := forward.New(cfg.forward(w.deliver), forward.Deps{
		Logger: w.log,
		Clock:  deps.Clock,
		NewMetrics: func(f *forward.Forwarder) forward.Metrics {
			w.m = newMetrics(deps.Registerer, f)
			return w.m.Metrics
		},
	})
	if err != nil {
		return nil, fmt.Errorf("influx: queue: %w", err)
	}
	w.f = f
	w.dl = newDeadLetter(cfg.QueueDir, cfg.DeadLetterMaxBytes)
	w.client = newClient(cfg, w.prec)
	return w, nil
}

// Start starts the sender. It is an error to call it twice or after Close.
func (w *Writer) Start() error {
	if err := w.f.Start(); err != nil {
		return fmt.Errorf("influx: %w", err)
	}
	return nil
}

// Close stops the sender (a batch in flight stays queued and is sent again after a restart), fsyncs and
// closes the queue. It is safe to call more than once and returns after the sender has exited.
func (w *Writer) Close() error {
	err := w.f.Close()
	w.closeClients.Do(func() {
		w.client.Close()
		for _, c := range w.extraClients {
			c.Close()
		}
	})
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
	maxRec := w.f.Queue().MaxRecordBytes()
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
			if err := w.f.Queue().Append(ctx, n, buf[:before]); err != nil {
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
			if err := w.f.Queue().Append(ctx, n, buf); err != nil {
				return fmt.Errorf("influx: queue: %w", err)
			}
			buf, n = buf[:1], 0
		}
	}
	if n > 0 {
		if err := w.f.Queue().Append(ctx, n, buf); err != nil {
			return fmt.Errorf("influx: queue: %w", err)
		}
	}
	if rejected != nil {
		w.f.LogRejected("samples not encodable as line protocol", rejected)
		return rejected
	}
	return nil
}

// Status returns the Writer's state and queue figures.
func (w *Writer) Status() Status {
	st := w.f.Status()
	return Status{
		State:         st.State,
		Up:            st.Up,
		LastError:     st.LastError,
		LastErrorTime: st.LastErrorTime,
		LastSuccess:   st.LastSuccess,
		QueueSamples:  st.Queue.Items,
		QueueBytes:    st.Queue.Bytes,
		OldestAge:     st.OldestAge,
		Sent:          st.Sent,
		DeadLettered:  st.DeadLettered,
		Dropped:       st.Queue.DroppedItems,
	}
}

var _ store.Appender = (*Writer)(nil)
