package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/internal/logx"
)

// Publisher sends one message to a broker and returns when it has been handed over (QoS 0) or acknowledged
// (QoS 1 and 2). Sensors uses an MQTT client when none is given; the demo may pass one that publishes straight
// into the embedded broker.
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, payload []byte) error
}

// SensorsDeps are the sensor simulator's collaborators; every field is optional.
type SensorsDeps struct {
	// Logger receives connection changes and rate-limited publish errors. Nil discards.
	Logger *slog.Logger
	// Registerer receives the citywatch_sim_* metrics. Nil does not register them.
	Registerer prometheus.Registerer
	// Publisher replaces the MQTT client built from the config's broker fields.
	Publisher Publisher
}

// SensorStats counts what a simulator run did.
type SensorStats struct {
	// Published counts messages the publisher accepted (acknowledged at QoS 1 and 2).
	Published uint64
	// Errors counts publishes that failed, including those attempted while disconnected.
	Errors uint64
	// Malformed counts deliberately malformed messages among those attempted.
	Malformed uint64
	// Skipped counts messages not attempted because publishing fell more than a second behind schedule.
	Skipped uint64
	// Silent counts schedule slots of a silent (faulted) device.
	Silent uint64
}

// Sensors runs the sensor simulator: a generator driven at the configured rate, publishing to a broker.
type Sensors struct {
	cfg    SensorsConfig
	gen    *Generator
	pub    Publisher
	logger *slog.Logger

	published, errs, malformed, skipped, silent atomic.Uint64

	mPublished, mErrors, mMalformed, mSkipped prometheus.Counter
}

// NewSensors validates cfg and builds a simulator; Run starts it.
func NewSensors(cfg SensorsConfig, deps SensorsDeps) (*Sensors, error) {
	gen, err := NewSensorGenerator(cfg)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Sensors{cfg: cfg, gen: gen, pub: deps.Publisher, logger: logx.Component(deps.Logger, "sim.sensors")}
	f := promauto.With(deps.Registerer)
	s.mPublished = f.NewCounter(prometheus.CounterOpts{Name: "citywatch_sim_messages_published_total",
		Help: "Simulated sensor messages accepted by the broker."})
	s.mErrors = f.NewCounter(prometheus.CounterOpts{Name: "citywatch_sim_publish_errors_total",
		Help: "Simulated sensor messages that failed to publish."})
	s.mMalformed = f.NewCounter(prometheus.CounterOpts{Name: "citywatch_sim_messages_malformed_total",
		Help: "Deliberately malformed simulated sensor messages attempted."})
	s.mSkipped = f.NewCounter(prometheus.CounterOpts{Name: "citywatch_sim_messages_skipped_total",
		Help: "Simulated sensor messages skipped because publishing fell behind schedule."})
	return s, nil
}

// Devices returns the simulated fleet.
func (s *Sensors) Devices() []Device { return s.gen.Devices() }

// Stats returns the counts so far; it is safe to call while Run runs.
func (s *Sensors) Stats() SensorStats {
	return SensorStats{Published: s.published.Load(), Errors: s.errs.Load(), Malformed: s.malformed.Load(),
		Skipped: s.skipped.Load(), Silent: s.silent.Load()}
}

// RunSensors runs a sensor simulator with cfg until ctx is done, reconnecting to the broker as needed. It
// returns an error only for an invalid configuration.
func RunSensors(ctx context.Context, cfg SensorsConfig, logger *slog.Logger) error {
	s, err := NewSensors(cfg, SensorsDeps{Logger: logger})
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// tickFloor is the shortest ticker period: above devices*rate = 1/tickFloor each tick sends several messages.
const tickFloor = 10 * time.Millisecond

// Run publishes until ctx is done, then disconnects and returns nil; call it once. Messages are spread evenly
// over time with one ticker: each tick sends the messages that are due, up to one second's worth, and counts
// the rest as skipped, so a stalled broker does not cause a burst afterwards.
func (s *Sensors) Run(ctx context.Context) error {
	pub := s.pub
	if pub == nil {
		p, err := newPahoPublisher(s.cfg, s.logger)
		if err != nil {
			return err
		}
		defer p.close()
		pub = p
	}
	total := float64(len(s.gen.devices)) * s.cfg.Rate
	period := max(time.Duration(float64(time.Second)/total), tickFloor)
	maxBurst := int64(math.Max(math.Ceil(total), 1))
	s.logger.Info("sensor simulator started", "broker", s.cfg.Broker, "devices", len(s.gen.devices),
		"rate", s.cfg.Rate, "qos", s.cfg.QoS, "seed", s.cfg.Seed, "faults", s.cfg.Faults.String())

	ticker := time.NewTicker(period)
	defer ticker.Stop()
	errLog := newErrorLimiter(s.logger, 10*time.Second)
	start := time.Now()
	var sent int64
	for {
		// The first message goes out at once; then each tick sends what is due.
		due := int64(time.Since(start).Seconds()*total) + 1 - sent
		if due > maxBurst {
			s.skipped.Add(uint64(due - maxBurst))
			s.mSkipped.Add(float64(due - maxBurst))
			sent += due - maxBurst
			due = maxBurst
		}
		for ; due > 0; due-- {
			if ctx.Err() != nil {
				break
			}
			sent++
			s.publishOne(ctx, pub, errLog)
		}
		select {
		case <-ctx.Done():
			errLog.flush()
			st := s.Stats()
			s.logger.Info("sensor simulator stopped", "published", st.Published, "errors", st.Errors,
				"malformed", st.Malformed, "skipped", st.Skipped)
			return nil
		case <-ticker.C:
		}
	}
}

func (s *Sensors) publishOne(ctx context.Context, pub Publisher, errLog *errorLimiter) {
	msg, ok := s.gen.Next(time.Now())
	if !ok {
		s.silent.Add(1)
		return
	}
	if msg.Malformed {
		s.malformed.Add(1)
		s.mMalformed.Inc()
	}
	if err := pub.Publish(ctx, msg.Topic, s.cfg.QoS, msg.Payload); err != nil {
		if ctx.Err() != nil {
			return // shutting down: not a publish failure
		}
		s.errs.Add(1)
		s.mErrors.Inc()
		errLog.log(err)
		return
	}
	s.published.Add(1)
	s.mPublished.Inc()
}

// errorLimiter logs publish errors when the error changes or at most once per interval, with the number of
// errors since the last log line.
type errorLimiter struct {
	logger     *slog.Logger
	every      time.Duration
	last       string
	lastAt     time.Time
	suppressed int
}

func newErrorLimiter(logger *slog.Logger, every time.Duration) *errorLimiter {
	return &errorLimiter{logger: logger, every: every}
}

func (l *errorLimiter) log(err error) {
	msg := err.Error()
	if msg == l.last && time.Since(l.lastAt) < l.every {
		l.suppressed++
		return
	}
	l.logger.Warn("publish failed", "err", err, "suppressed_since_last", l.suppressed)
	l.last, l.lastAt, l.suppressed = msg, time.Now(), 0
}

func (l *errorLimiter) flush() {
	if l.suppressed > 0 {
		l.logger.Warn("publish failed", "err", l.last, "suppressed_since_last", l.suppressed)
		l.suppressed = 0
	}
}

// errNotConnected is returned while the MQTT client is (re)connecting; paho would otherwise accept a QoS 0
// publish during a reconnect and drop it without telling.
var errNotConnected = errors.New("not connected to the broker")

// publishTimeout bounds waiting for one publish to be written or acknowledged.
const publishTimeout = 10 * time.Second

// pahoPublisher publishes through an auto-reconnecting paho client.
type pahoPublisher struct {
	client mqtt.Client
}

func newPahoPublisher(cfg SensorsConfig, logger *slog.Logger) (*pahoPublisher, error) {
	id := cfg.ClientID
	if id == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("sensor simulator: client id: %w", err)
		}
		id = "citywatch-sim-" + hex.EncodeToString(b[:])
	}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(id).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetWriteTimeout(publishTimeout).
		SetOrderMatters(false).
		SetOnConnectHandler(func(mqtt.Client) {
			logger.Info("connected to broker", "broker", cfg.Broker, "client_id", id)
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			logger.Warn("connection to broker lost, reconnecting", "broker", cfg.Broker, "err", err)
		})
	c := mqtt.NewClient(opts)
	// With ConnectRetry the token completes only once connected; Publish reports errNotConnected meanwhile.
	c.Connect()
	return &pahoPublisher{client: c}, nil
}

// Publish implements Publisher.
func (p *pahoPublisher) Publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	if !p.client.IsConnectionOpen() {
		return errNotConnected
	}
	tok := p.client.Publish(topic, qos, false, payload)
	timer := time.NewTimer(publishTimeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return errors.New("publish not acknowledged within " + publishTimeout.String())
	}
}

func (p *pahoPublisher) close() { p.client.Disconnect(250) }
