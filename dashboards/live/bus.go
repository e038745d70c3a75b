// Package live is the dashboard's live bus: producers publish state changes (a device's latest values, a
// camera's state, an alert's state); subscribers (the SSE stream at /api/events) receive them batched, the
// latest per key once per batch interval, so the message rate to a browser is bounded however fast the sources
// change, and a slow client never slows a producer.
package live

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/internal/clock"
)

// Event is one state change.
type Event struct {
	// Kind is "device", "camera" or "alert": the SSE event name.
	Kind string `json:"-"`
	// Key identifies the thing within its kind (device id, camera id, alert id): a later event with the same
	// kind and key replaces an undelivered earlier one.
	Key string `json:"-"`
	// Site scopes the event: a subscriber sees it only if it may see the site.
	Site string `json:"-"`
	// Data is the JSON payload.
	Data json.RawMessage `json:"-"`
}

// Config configures the bus.
type Config struct {
	// BatchInterval is how often subscribers get the changes since the last batch. It defaults to 1s.
	BatchInterval time.Duration
	// MaxPending bounds the keys a subscriber may have waiting; past it the subscriber is told it lost events
	// and should reload. It defaults to 10000.
	MaxPending int
	// PingInterval is how often a stream sends a "ping" event with the server's time (see Ping). A page calls
	// itself stale after two intervals without a ping or data, so this bounds how long a frozen server, a
	// stuck producer or a silently dead connection can pass for live; the pings also keep idle connections
	// (and the proxies in between) open. It defaults to 5s.
	PingInterval time.Duration
}

// Deps are the bus's collaborators; all are optional.
type Deps struct {
	// Registerer receives the citywatch_live_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock tells the time the pings carry and runs the streams' batch and ping tickers; nil is the real clock.
	Clock clock.Clock
}

// Bus fans events out to subscribers.
type Bus struct {
	cfg     Config
	clk     clock.Clock
	current atomic.Int64 // unix nanoseconds of the last MarkCurrent; 0 before the first
	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	clients prometheus.Gauge
	events  prometheus.Counter
	lost    prometheus.Counter
}

// New returns a bus.
func New(cfg Config, deps Deps) *Bus {
	if cfg.BatchInterval <= 0 {
		cfg.BatchInterval = time.Second
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 10000
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	f := promauto.With(deps.Registerer)
	return &Bus{cfg: cfg, clk: clock.Or(deps.Clock), subs: map[*Subscription]struct{}{},
		clients: f.NewGauge(prometheus.GaugeOpts{Name: "citywatch_live_subscribers", Help: "Open live event streams."}),
		events:  f.NewCounter(prometheus.CounterOpts{Name: "citywatch_live_events_total", Help: "Events published to the live bus."}),
		lost: f.NewCounter(prometheus.CounterOpts{Name: "citywatch_live_overflows_total",
			Help: "Times a subscriber fell so far behind that its pending events were dropped and it was told to reload."}),
	}
}

// Subscribers is the number of open subscriptions: producers skip their work while nobody listens.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// DefaultPingInterval is the ping interval of a Config that sets none.
const DefaultPingInterval = 5 * time.Second

// BatchInterval is the configured batch interval.
func (b *Bus) BatchInterval() time.Duration { return b.cfg.BatchInterval }

// PingInterval is the configured ping interval.
func (b *Bus) PingInterval() time.Duration { return b.cfg.PingInterval }

// MarkCurrent records that the producer has published every change it knows of up to now. The pings carry
// the time of the last mark (Ping.CurrentAt), so a page can tell a stream that is open but no longer fed (a
// stuck producer) from a live one. A bus nobody marks sends pings without it.
func (b *Bus) MarkCurrent() { b.current.Store(b.clk.Now().UnixNano()) }

// Publish hands ev to every subscriber that may see its site. It never blocks on a subscriber.
func (b *Bus) Publish(ev Event) {
	b.events.Inc()
	key := ev.Kind + "\x00" + ev.Key
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.visible(ev.Site) {
			s.add(key, ev, b.cfg.MaxPending, b.lost)
		}
	}
}

// Subscribe opens a subscription for events whose site visible accepts. Close it when done.
func (b *Bus) Subscribe(visible func(site string) bool) *Subscription {
	s := &Subscription{bus: b, visible: visible, pending: map[string]Event{}, ready: make(chan struct{}, 1)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	b.clients.Inc()
	return s
}

// Subscription is one subscriber's queue: the latest event per kind and key since the last Take.
type Subscription struct {
	bus      *Bus
	visible  func(string) bool
	mu       sync.Mutex
	pending  map[string]Event
	order    []string
	overflow bool
	ready    chan struct{}
	once     sync.Once
}

func (s *Subscription) add(k string, ev Event, max int, lost prometheus.Counter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[k]; !ok {
		if len(s.pending) >= max {
			if !s.overflow {
				lost.Inc()
			}
			s.overflow = true
			return
		}
		s.order = append(s.order, k)
	}
	s.pending[k] = ev
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when events are waiting.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the waiting events in first-change order, and whether some were lost to overflow (the client
// should then reload its state).
func (s *Subscription) Take() ([]Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.pending[k])
	}
	overflow := s.overflow
	s.pending, s.order, s.overflow = map[string]Event{}, nil, false
	return out, overflow
}

// Close ends the subscription; safe to call twice.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
		s.bus.clients.Dec()
	})
}
