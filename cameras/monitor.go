// Package cameras monitors RTSP cameras: one gortsplib client per camera, a health state machine fed by
// stream signals (session, packet arrival, frame rate, keyframes, loss, corruption), reconnects with
// backoff, state-change events, camera metrics appended as samples, and a sink for access units that
// analysis, snapshots, clips and live view plug into.
package cameras

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
)

// Deps are the Monitor's collaborators. Every field is optional.
type Deps struct {
	// Appender receives the camera metrics every Config.MetricsInterval. Nil: no samples.
	Appender store.Appender
	// Logger is used with component=cameras. Nil discards.
	Logger *slog.Logger
	// Registerer registers the monitor's self metrics. Nil: not registered.
	Registerer prometheus.Registerer
	// Clock tells the time and runs the check, metrics and reconnect timers. Nil is the real clock.
	Clock clock.Clock
	// Events receives state changes, from one goroutine, in order. A slow consumer never stalls the
	// monitor: events wait in a bounded queue (Config.EventBuffer) and are dropped and counted when it is full.
	Events func(Event)
	// Sink receives every well-formed access unit; see AccessUnitSink for the rules.
	Sink AccessUnitSink
}

// Monitor watches a set of cameras that SetCameras may change while it runs.
type Monitor struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	clock   clock.Clock
	now     func() time.Time
	started time.Time
	set     atomic.Pointer[cameraSet]
	metrics *selfMetrics

	events  chan Event
	dropped atomic.Uint64

	ctx           context.Context
	cancel        context.CancelFunc
	wg            sync.WaitGroup // workers and loops
	dispWG        sync.WaitGroup // event dispatcher
	mu            sync.Mutex
	running       bool
	closed        bool
	appendMu      sync.Mutex
	lastAppendErr string
}

type selfMetrics struct {
	reconnects    prometheus.Counter
	stateChanges  *prometheus.CounterVec
	eventsDropped prometheus.Counter
	appendErrors  prometheus.Counter
	decodeErrors  prometheus.Counter
	corruptFrames prometheus.Counter
	inState       *prometheus.GaugeVec
}

func newSelfMetrics(reg prometheus.Registerer) *selfMetrics {
	return &selfMetrics{
		reconnects: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_cameras_reconnects_total", Help: "Camera connection attempts after the first.",
		})),
		stateChanges: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_cameras_state_changes_total", Help: "Camera state changes by new state.",
		}, []string{"state"})),
		eventsDropped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_cameras_events_dropped_total", Help: "State-change events dropped because the event queue was full.",
		})),
		appendErrors: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_cameras_append_errors_total", Help: "Failed appends of camera metric samples.",
		})),
		decodeErrors: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_cameras_rtp_decode_errors_total", Help: "RTP/RTCP packets that could not be decoded.",
		})),
		corruptFrames: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_cameras_corrupt_frames_total", Help: "Video frames dropped as corrupt or undecodable.",
		})),
		inState: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "citywatch_cameras_cameras", Help: "Number of cameras in each state.",
		}, []string{"state"})),
	}
}

// register registers c, or returns the collector already registered under the same name: a Monitor
// rebuilt on config reload keeps counting in the same series instead of panicking.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		// A clash with a different metric type is a programming error; keep working unregistered.
	}
	return c
}

// New validates cfg (after filling defaults) and builds a Monitor. Nothing runs until Start.
func New(cfg Config, deps Deps) (*Monitor, error) {
	cfg.Cameras = append([]CameraConfig(nil), cfg.Cameras...)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cameras: %w", err)
	}
	m := &Monitor{
		cfg:     cfg,
		deps:    deps,
		log:     logx.Component(deps.Logger, "cameras"),
		clock:   clock.Or(deps.Clock),
		metrics: newSelfMetrics(deps.Registerer),
		events:  make(chan Event, cfg.EventBuffer),
	}
	m.now = m.clock.Now
	m.started = m.now()
	m.ctx, m.cancel = context.WithCancel(context.Background())
	set, _, err := m.plan(nil, cfg.Cameras)
	if err != nil {
		return nil, err
	}
	m.set.Store(set)
	return m, nil
}

// Start starts one worker per camera and the check, metrics and event loops. It returns at once;
// connection problems show as camera states, not as errors.
func (m *Monitor) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running || m.closed {
		return errors.New("cameras: Start called twice or after Close")
	}
	m.running = true
	m.dispWG.Add(1)
	go func() {
		defer m.dispWG.Done()
		m.dispatch()
	}()
	for _, c := range m.cameras() {
		m.startCamera(c)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.checkLoop()
	}()
	if m.deps.Appender != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.metricsLoop()
		}()
	}
	m.log.Info("camera monitor started", "cameras", len(m.cameras()))
	return nil
}

// Close stops every worker and loop, closes every RTSP session, delivers queued events and waits for all
// goroutines. It is safe to call more than once.
func (m *Monitor) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	m.cancel()
	m.wg.Wait()
	close(m.events)
	m.dispWG.Wait()
}

// Cameras returns the status of every camera in configuration order.
func (m *Monitor) Cameras() []Status {
	cams := m.cameras()
	out := make([]Status, 0, len(cams))
	for _, c := range cams {
		out = append(out, c.status())
	}
	return out
}

// Camera returns the status of one camera, or ErrCameraNotFound.
func (m *Monitor) Camera(id string) (Status, error) {
	c, ok := m.set.Load().ByID[id]
	if !ok {
		return Status{}, fmt.Errorf("%w: %q", ErrCameraNotFound, id)
	}
	return c.status(), nil
}

// DroppedEvents returns how many events were dropped because the queue was full.
func (m *Monitor) DroppedEvents() uint64 { return m.dropped.Load() }

// emit queues ev without blocking; a full queue drops and counts it.
func (m *Monitor) emit(ev Event) {
	if m.deps.Events == nil {
		return
	}
	select {
	case m.events <- ev:
	default:
		if n := m.dropped.Add(1); n == 1 || n%100 == 0 {
			m.log.Warn("camera event queue full; dropping events", "dropped_total", n)
		}
		m.metrics.eventsDropped.Inc()
	}
}

func (m *Monitor) dispatch() {
	for ev := range m.events {
		if m.deps.Events != nil {
			m.deps.Events(ev)
		}
	}
}

// checkLoop re-evaluates every camera CheckInterval after the previous check ended (a timer re-armed after
// the work, not a ticker: a slow round never queues checks, and a fake clock's waiter count shows when a
// check is done).
func (m *Monitor) checkLoop() {
	t := m.clock.NewTimer(m.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C():
		}
		m.check()
		t.Reset(m.cfg.CheckInterval)
	}
}

// check evaluates every camera and updates the per-state gauge.
func (m *Monitor) check() {
	counts := make(map[State]int, len(States()))
	for _, c := range m.cameras() {
		c.evaluate()
		c.mu.Lock()
		st, _, _ := c.health.State()
		c.mu.Unlock()
		counts[st]++
	}
	for _, s := range States() {
		m.metrics.inState.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
}

func (m *Monitor) metricsLoop() {
	t := m.clock.NewTicker(m.cfg.MetricsInterval)
	defer t.Stop()
	var buf []store.Sample
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C():
		}
		now := m.now()
		buf = buf[:0]
		for _, c := range m.cameras() {
			buf = c.samples(now, buf)
		}
		m.append(buf)
	}
}

// append stores one batch, bounded by MetricsInterval so a slow store cannot pile up ticks.
func (m *Monitor) append(samples []store.Sample) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.MetricsInterval)
	defer cancel()
	err := m.deps.Appender.Append(ctx, samples)
	m.appendMu.Lock()
	defer m.appendMu.Unlock()
	if err == nil {
		if m.lastAppendErr != "" {
			m.log.Info("camera metrics append recovered")
			m.lastAppendErr = ""
		}
		return
	}
	if m.ctx.Err() != nil {
		return
	}
	m.metrics.appendErrors.Inc()
	if msg := err.Error(); msg != m.lastAppendErr {
		m.log.Warn("camera metrics append failed", "err", err, "samples", len(samples))
		m.lastAppendErr = msg
	}
}
