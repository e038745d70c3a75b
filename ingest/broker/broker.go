package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/crypto/bcrypt"

	"citywatch/ingest"
	"citywatch/internal/logx"
)

// Sink receives the messages published to the broker. Handle returns nil when the message was stored or
// rejected for its content, and an error only when storing failed, in which case the publisher is not
// acknowledged (see the package's ingest hook). *ingest.Pipeline implements it.
type Sink interface {
	Handle(ctx context.Context, m ingest.Message) error
}

// AsyncSink is a Sink that can store a message without the caller waiting for it. HandleAsync returns once the
// message is queued and calls done exactly once, possibly before it returns, with what Handle would have
// returned; messages queued together are stored together. *ingest.Pipeline implements it.
type AsyncSink interface {
	Sink
	HandleAsync(ctx context.Context, m ingest.Message, done func(error))
}

// Defaults applied by New to zero Config fields.
const (
	// DefaultMaxMessageBytes is the default Config.MaxMessageBytes.
	DefaultMaxMessageBytes = 256 << 10
	// DefaultMaxClients is the default Config.MaxClients.
	DefaultMaxClients = 10000
)

// Config configures the embedded broker.
type Config struct {
	// Listen is the plain TCP address for MQTT clients, such as "127.0.0.1:1883" (the configuration's default).
	// Empty disables it.
	Listen string
	// WebSocketListen is the address for MQTT over WebSocket (ws://, any path, subprotocol "mqtt"). Empty
	// disables it. Put it behind a TLS-terminating proxy for wss://.
	WebSocketListen string
	// TLSListen is the address for MQTT over TLS, such as "0.0.0.0:8883". Empty disables it; when set, TLS
	// is required.
	TLSListen string
	// TLS is the server TLS configuration of TLSListen (certificates; ClientAuth for mutual TLS).
	TLS *tls.Config
	// AllowAnonymous lets clients connect without a username (and without a password). Anonymous clients may
	// subscribe to anything and publish on any topic except "$..." and "citywatch/...". It defaults to false.
	AllowAnonymous bool
	// MaxMessageBytes bounds one MQTT packet (topic, properties and payload); larger packets end the
	// connection. It defaults to 256 KiB.
	MaxMessageBytes int
	// MaxClients bounds concurrently connected clients; more are refused with "server unavailable/busy".
	// It defaults to 10000.
	MaxClients int
	// Users are the accounts allowed to connect.
	Users []User
}

// User is an MQTT account.
type User struct {
	// Username is the MQTT username. It may not be empty or contain "+", "#" or NUL.
	Username string
	// PasswordHash is the bcrypt hash of the password (such as from `htpasswd -nbB user password` or
	// bcrypt.GenerateFromPassword).
	PasswordHash string
	// Publish are the topic filters the user may publish on ("+" and "#" wildcards; "{username}" is replaced
	// by Username). Empty means none. "$..." and "citywatch/..." topics are never allowed.
	Publish []string
	// Subscribe are the topic filters the user may subscribe to; a subscription is allowed only when one of
	// these filters covers it entirely ("citywatch/#" to receive alerts). "{username}" is replaced by Username.
	// Empty means none.
	Subscribe []string
}

// Deps are the broker's collaborators.
type Deps struct {
	// Sink receives every message published by network clients and through Publish, except on "$..." and
	// "citywatch/..." topics. Required.
	Sink Sink
	// Logger logs with component=broker. Nil discards.
	Logger *slog.Logger
	// Registerer registers the citywatch_broker_* metrics. Nil doesn't register them.
	Registerer prometheus.Registerer
}

// Addrs are the bound addresses of the broker's listeners; a disabled listener has "".
type Addrs struct {
	// TCP is the bound address of Config.Listen.
	TCP string
	// WebSocket is the bound address of Config.WebSocketListen.
	WebSocket string
	// TLS is the bound address of Config.TLSListen.
	TLS string
}

// ErrClosed is returned by Start and Publish after Close.
var ErrClosed = errors.New("broker: closed")

// Broker is the embedded MQTT broker. Create it with New, then Start it; Close stops it.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	sink   Sink
	srv    *mqtt.Server
	ctx    context.Context // handed to Sink.Handle; cancelled by Close
	cancel context.CancelFunc
	auth   *authHook
	flow   *subscriberFlow
	m      *metrics

	connectTimeout time.Duration // for a new connection to send CONNECT; tests lengthen it

	mu      sync.Mutex
	started bool
	closed  bool
	addrs   Addrs

	closeOnce sync.Once
}

// New validates cfg and builds a broker; it binds nothing until Start.
func New(cfg Config, deps Deps) (*Broker, error) {
	if deps.Sink == nil {
		return nil, errors.New("broker: Deps.Sink is required")
	}
	if cfg.MaxMessageBytes < 0 || cfg.MaxClients < 0 {
		return nil, fmt.Errorf("broker: max_message_bytes and max_clients must be >= 0, got %d and %d",
			cfg.MaxMessageBytes, cfg.MaxClients)
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.TLSListen != "" && (cfg.TLS == nil || (len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil &&
		cfg.TLS.GetConfigForClient == nil)) {
		return nil, fmt.Errorf("broker: tls listener %q needs a TLS config with a certificate", cfg.TLSListen)
	}
	accounts, dummy, err := buildAccounts(cfg.Users)
	if err != nil {
		return nil, err
	}
	log := logx.Component(deps.Logger, "broker")
	if len(accounts) == 0 && !cfg.AllowAnonymous && (cfg.Listen != "" || cfg.WebSocketListen != "" || cfg.TLSListen != "") {
		log.Warn("mqtt broker has no users and refuses anonymous clients: no client can connect")
	}

	b := &Broker{cfg: cfg, log: log, sink: deps.Sink, connectTimeout: defaultConnectTimeout}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:           capabilities(cfg),
		InlineClient:           true,
		SysTopicResendInterval: 10,
		// Packets queued for a client are coalesced into writes of up to this size (mochi flushes when its
		// outbound queue is empty), so a burst to a subscriber costs a few syscalls, not one per message.
		ClientNetWriteBufferSize: 16 << 10,
		Logger: slog.New(&mochiLogHandler{
			h:   log.With("lib", "mochi").Handler(),
			lim: newRateLimiter(logInterval, time.Now),
		}),
	})

	connected := new(atomic.Int64)
	m := newMetrics(deps.Registerer, connected)
	logs := &limitedLogger{logger: log, lim: newRateLimiter(logInterval, time.Now)}
	auth := &authHook{
		accounts:       accounts,
		allowAnonymous: cfg.AllowAnonymous,
		dummyHash:      dummy,
		cache:          newCredCache(10000),
		limiter:        newLoginLimiter(10, 6*time.Second, 16384, time.Now),
		clients:        b.srv.Clients,
		bcryptSem:      make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		m:              m,
		logs:           logs,
	}
	flow := newSubscriberFlow(subscriberHighWater, subscriberMaxWait, m.subscriberLagging.Inc)
	async, _ := deps.Sink.(AsyncSink)
	hook := &ingestHook{
		async:     async,
		srv:       b.srv,
		flow:      flow,
		done:      b.ctx.Done(),
		ctx:       b.ctx,
		sink:      deps.Sink,
		maxPacket: uint32(cfg.MaxMessageBytes),
		connected: connected,
		m:         m,
		logs:      logs,
	}
	if am, ok := deps.Sink.(asyncMessageSink); ok && async != nil {
		hook.asyncMsg, hook.qos0Stored = am, hook.completeQoS0
	}
	b.auth = auth
	b.flow = flow
	b.m = m
	promauto.With(deps.Registerer).NewCounterFunc(prometheus.CounterOpts{
		Name: "citywatch_broker_subscriber_inflight_dropped_total",
		Help: "QoS 1/2 messages not delivered to a subscribing client because it had too many unacknowledged " +
			"(only after it lagged behind for subscriber flow control's maximum wait).",
	}, func() float64 { return float64(atomic.LoadInt64(&b.srv.Info.InflightDropped)) })
	for _, h := range []mqtt.Hook{auth, hook} {
		if err := b.srv.AddHook(h, nil); err != nil {
			b.cancel()
			return nil, fmt.Errorf("broker: add hook %s: %w", h.ID(), err)
		}
	}
	return b, nil
}

// Subscriber flow control (flow.go): publishers wait while a subscriber has subscriberHighWater QoS 1/2
// messages unacknowledged, at most subscriberMaxWait in a row per subscriber. Half of MaximumInflight keeps
// both mochi limits (inflight and outbound queue) out of reach of a subscriber that keeps up.
const (
	subscriberHighWater = 512
	subscriberMaxWait   = 10 * time.Second
)

// capabilities are mochi's limits for cfg: bounded per-client queues and sessions, so that a slow or
// abandoned client costs bounded memory.
func capabilities(cfg Config) *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumClients = int64(cfg.MaxClients)
	c.MaximumPacketSize = uint32(cfg.MaxMessageBytes)
	c.ReceiveMaximum = 256              // QoS 1/2 messages a client may have unacknowledged towards us
	c.MaximumInflight = 1024            // QoS 1/2 messages queued for one subscriber
	c.MaximumClientWritesPending = 1024 // outbound packets buffered for one client
	c.MaximumSessionExpiryInterval = 24 * 60 * 60
	c.TopicAliasMaximum = 1024
	return c
}

// buildAccounts validates users and substitutes "{username}" in their filters. It also returns a bcrypt hash
// of the users' cost for timing-safe refusal of unknown usernames.
func buildAccounts(users []User) (map[string]*account, []byte, error) {
	accounts := make(map[string]*account, len(users))
	cost := bcrypt.DefaultCost
	for i, u := range users {
		switch {
		case u.Username == "":
			return nil, nil, fmt.Errorf("broker: users[%d]: empty username", i)
		case strings.ContainsAny(u.Username, "+#\x00"):
			return nil, nil, fmt.Errorf("broker: users[%d]: username %q may not contain \"+\", \"#\" or NUL", i, u.Username)
		case accounts[u.Username] != nil:
			return nil, nil, fmt.Errorf("broker: users[%d]: duplicate username %q", i, u.Username)
		}
		c, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			// The hash is a secret of sorts: say what is wrong, not what it is.
			return nil, nil, fmt.Errorf("broker: users[%d] (%q): password_hash is not a bcrypt hash: %w", i, u.Username, err)
		}
		cost = c
		acc := &account{name: u.Username, hash: []byte(u.PasswordHash)}
		for _, set := range []struct {
			name string
			in   []string
			out  *[]string
		}{{"publish", u.Publish, &acc.publish}, {"subscribe", u.Subscribe, &acc.subscribe}} {
			for j, f := range set.in {
				f = strings.ReplaceAll(f, "{username}", u.Username)
				if err := ValidateFilter(f); err != nil {
					return nil, nil, fmt.Errorf("broker: users[%d] (%q): %s[%d]: %w", i, u.Username, set.name, j, err)
				}
				*set.out = append(*set.out, f)
			}
		}
		accounts[u.Username] = acc
	}
	if len(users) == 0 {
		return accounts, nil, nil
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("citywatch-unknown-user"), cost)
	if err != nil {
		return nil, nil, fmt.Errorf("broker: bcrypt: %w", err)
	}
	return accounts, dummy, nil
}

// Start binds the configured listeners and starts serving. All listeners are bound when it returns; a bind
// error names the listener and address, and leaves nothing bound.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return errors.New("broker: already started")
	}
	var bound []net.Listener
	fail := func(err error) error {
		for _, ln := range bound {
			_ = ln.Close()
		}
		return err
	}
	var ls []listeners.Listener
	for _, spec := range []struct {
		id, addr string
		out      *string
	}{
		{"tcp", b.cfg.Listen, &b.addrs.TCP},
		{"ws", b.cfg.WebSocketListen, &b.addrs.WebSocket},
		{"tls", b.cfg.TLSListen, &b.addrs.TLS},
	} {
		if spec.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", spec.addr)
		if err != nil {
			return fail(fmt.Errorf("broker: %s listener: cannot listen on %q: %w", spec.id, spec.addr, err))
		}
		bound = append(bound, ln)
		*spec.out = ln.Addr().String()
		switch spec.id {
		case "tcp":
			ls = append(ls, &netListener{id: spec.id, protocol: "tcp", ln: ln, connectTimeout: b.connectTimeout, m: b.m,
				disconnect: b.disconnectListener})
		case "tls":
			ls = append(ls, &netListener{id: spec.id, protocol: "tls", ln: tls.NewListener(ln, b.cfg.TLS), m: b.m,
				connectTimeout: b.connectTimeout, disconnect: b.disconnectListener})
		case "ws":
			ls = append(ls, &wsListener{id: spec.id, ln: ln, maxFrame: int64(b.cfg.MaxMessageBytes) + 1024, m: b.m,
				connectTimeout: b.connectTimeout, disconnect: b.disconnectListener})
		}
	}
	for _, l := range ls {
		if err := b.srv.AddListener(l); err != nil {
			return fail(fmt.Errorf("broker: add %s listener: %w", l.ID(), err))
		}
	}
	if err := b.srv.Serve(); err != nil {
		return fail(fmt.Errorf("broker: serve: %w", err))
	}
	b.started = true
	b.log.Info("mqtt broker started", "tcp", b.addrs.TCP, "websocket", b.addrs.WebSocket, "tls", b.addrs.TLS,
		"users", len(b.cfg.Users), "allow_anonymous", b.cfg.AllowAnonymous)
	return nil
}

// Addrs returns the bound listener addresses; they are empty before Start.
func (b *Broker) Addrs() Addrs {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addrs
}

// Close disconnects all clients, closes the listeners and returns when the broker's connection goroutines
// have ended. Sink calls still running see their context cancelled (their messages are not acknowledged, so
// publishers redeliver). It is safe to call more than once and without Start.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		b.cancel()
		_ = b.srv.Close() // closes our listeners, which wait for their connections
		b.log.Info("mqtt broker stopped")
	})
}

// Publish publishes a message from inside the process (alerts, state) to the broker's subscribers. A topic
// that is ingestable (not "$..." or "citywatch/...") is first handed to the Sink, and an error from it is
// returned without publishing. qos limits the delivery QoS to subscribers. It works before Start too
// (retained messages are kept).
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if err := ValidateFilter(topic); err != nil || strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("broker: publish: invalid topic name %q", topic)
	}
	if qos > 2 {
		return fmt.Errorf("broker: publish %q: qos %d > 2", topic, qos)
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if ingestable(topic) {
		err := b.sink.Handle(b.ctx, ingest.Message{Topic: topic, Payload: payload, Received: time.Now(), Source: Source})
		if err != nil {
			return fmt.Errorf("broker: publish %q: not stored: %w", topic, err)
		}
	}
	if err := b.srv.Publish(topic, payload, retain, qos); err != nil {
		return fmt.Errorf("broker: publish %q: %w", topic, err)
	}
	return nil
}

// disconnectListener disconnects the clients of one listener with "server shutting down", as mochi's own
// closeListenerClients does, but without Clients.GetByListener: in mochi v2.7.9 that takes the client
// registry's read lock twice (GetByListener, then Len), so a client connecting or leaving between the two
// acquisitions deadlocks the shutdown for ever (mochi-mqtt/server#488, unfixed in any release). GetAll
// takes the lock once.
func (b *Broker) disconnectListener(id string) {
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener == id && !cl.Closed() {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}
