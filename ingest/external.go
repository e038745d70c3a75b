package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// ExternalConfig configures one external MQTT broker source.
type ExternalConfig struct {
	// Name is the source name: the "source" label value and Message.Source. Required, unique per process.
	Name string
	// URL is the broker, e.g. "tcp://broker:1883", "ssl://broker:8883", "ws://broker/mqtt" or "wss://...".
	// Userinfo in the URL is used as Username/Password when those are empty, and never logged. Required.
	URL string
	// ClientID is the MQTT client id. It must be stable across restarts (the broker keeps the session, with the
	// messages queued while citywatch was down, under it) and unique among the broker's clients. It defaults to
	// "citywatch-<Name>-<hostname>".
	ClientID string
	// Username is the MQTT user name; empty for anonymous access.
	Username string
	// Password is the MQTT password (the secret value itself). It never appears in logs, errors or Status.
	Password string
	// Topics are the topic filters to subscribe to. At least one is required.
	Topics []string
	// SharedGroup, when set, subscribes "$share/<SharedGroup>/<filter>" so that the collectors of a group split
	// the messages between them.
	SharedGroup string
	// QoS is the subscription QoS: 0, 1 or 2. The zero value is QoS 0 (at most once, nothing redelivered);
	// citywatch's configuration defaults it to 1. With QoS 1 or 2 a message is acknowledged only after it was
	// stored, so nothing is lost across crashes, restarts and store failures (duplicates are possible).
	QoS byte
	// MaxInflight bounds the messages received and not yet handled (queued, being handled or waiting for
	// their commit). When it is reached, reading from the broker pauses. It defaults to 256.
	MaxInflight int
	// Workers is how many messages a Handler that is not an AsyncHandler handles at once. Messages are assigned
	// to workers by topic, so the messages of one topic are stored in the order received. An AsyncHandler (the
	// pipeline) takes every message in paho's receiving goroutine, in the order received, without waiting for
	// its commit (a message whose store failed is retried after the later ones). It defaults to 16, at most
	// MaxInflight.
	Workers int
	// ReconnectMin and ReconnectMax bound the exponential backoff between connection attempts. They default to
	// 500ms and 30s. The backoff restarts from ReconnectMin after a connection that lasted ReconnectMax.
	ReconnectMin, ReconnectMax time.Duration
	// ConnectTimeout bounds a connection attempt and the subscription that follows it. It defaults to 10s.
	ConnectTimeout time.Duration
	// KeepAlive is the MQTT keep-alive interval. It defaults to 30s.
	KeepAlive time.Duration
	// StoreRetryMin and StoreRetryMax bound the backoff between attempts to handle a message whose store failed.
	// They default to 100ms and 5s.
	StoreRetryMin, StoreRetryMax time.Duration
	// StoreRetryFor is how long a message is retried while the store fails. Then, for QoS 1 and 2, the source
	// disconnects without acknowledging so that the broker delivers the message again after the reconnection
	// backoff; a QoS 0 message is dropped and counted. It defaults to 30s.
	StoreRetryFor time.Duration
	// DrainTimeout bounds how long Close waits for received messages to be handled and acknowledged. It
	// defaults to 5s.
	DrainTimeout time.Duration
	// TLS configures TLS for ssl://, tls://, mqtts:// and wss:// URLs. Nil uses the system roots.
	TLS *tls.Config
}

// ExternalDeps are the collaborators of an External.
type ExternalDeps struct {
	// Logger receives connection state changes and store failures. Nil discards.
	Logger *slog.Logger
	// Registerer receives the source metrics (labelled source=<Name>). Nil does not register them. Close
	// unregisters them, so a source of the same name can be created again (config reload).
	Registerer prometheus.Registerer
	// Clock tells the time of Message.Received and Status; nil is the real clock.
	Clock clock.Clock
}

// ExternalStatus is the state of an external source, for /readyz and the API. It holds no secret.
type ExternalStatus struct {
	// Name is the source name.
	Name string `json:"name"`
	// URL is the broker URL without userinfo.
	URL string `json:"url"`
	// ClientID is the MQTT client id.
	ClientID string `json:"client_id"`
	// Connected says the connection is up; Subscribed that every topic filter was granted on it.
	Connected  bool `json:"connected"`
	Subscribed bool `json:"subscribed"`
	// Since is when Connected last changed (zero before the first attempt ended).
	Since time.Time `json:"since,omitzero"`
	// LastError is the latest connection, subscription or store error, LastErrorTime when it happened.
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// Reconnects counts connections established after the first.
	Reconnects uint64 `json:"reconnects"`
	// StoreFailing says the latest attempt to handle a message failed because the store failed.
	StoreFailing bool `json:"store_failing"`
	// Inflight is the number of messages received and not yet handled.
	Inflight int `json:"inflight"`
	// Dropped counts QoS 0 messages that could not be stored (store failure, shutdown).
	Dropped uint64 `json:"dropped"`
}

// External consumes messages from an external MQTT broker (mosquitto, EMQX, ...) through paho and hands them to
// a Handler. It keeps a persistent session (CleanSession false, stable client id) and acknowledges a QoS 1/2
// message only after the Handler returned nil, so a message that was not durably stored is delivered again.
//
// Store failures: the message is retried with backoff while the connection is up, keeping the order of its
// topic (the worker of that topic waits). After StoreRetryFor the source disconnects so that the broker, which
// keeps unacknowledged messages of a persistent session, delivers them again on the next connection.
//
// Messages are read by paho in order and handed to an AsyncHandler (the pipeline) as received, or queued to
// Workers workers by topic; at most MaxInflight are held. No goroutine is started per message.
//
// The broker must keep what arrives while citywatch is down: mosquitto's max_queued_messages defaults to 1000
// per session and silently drops QoS 1/2 messages beyond it; raise it (and max_inflight_messages, default 20,
// for throughput) on brokers that feed citywatch.
type External struct {
	cfg      ExternalConfig
	h        Handler
	log      *slog.Logger
	clk      clock.Clock
	broker   string // URL without userinfo, given to paho and shown
	filters  map[string]byte
	seed     maphash.Seed
	username string
	password string

	queues  []chan item
	pending atomic.Int64
	// async is h when it stores the messages of several workers with one commit without each waiting (the
	// pipeline); nil otherwise.
	async AsyncHandler
	// slots holds one token per message received and not finished: MaxInflight bounds them even while the
	// workers do not wait for their messages' commits.
	slots chan struct{}
	// retryQ holds messages whose asynchronous store failed, for the retry worker (capacity 2×MaxInflight: it
	// never blocks the pipeline's commit goroutine that completes them).
	retryQ chan item
	idle   chan struct{} // signalled when pending drops to 0 while stopping

	ctx         context.Context // for Handle; cancelled when Close gives up draining
	cancel      context.CancelFunc
	stopping    chan struct{} // closed by Close: stop accepting, drain, disconnect
	workersStop chan struct{} // closed by the run loop when the workers must exit
	workers     sync.WaitGroup
	runDone     chan struct{}
	life        sync.Mutex // orders Start and Close
	started     bool       // under life
	closed      bool       // under life

	storeFailing atomic.Bool
	dropped      atomic.Uint64

	mu          sync.Mutex
	st          ExternalStatus
	lastConnErr string
	lastStore   string

	reg         prometheus.Registerer
	collectors  []prometheus.Collector
	connected   prometheus.Gauge
	reconnects  prometheus.Counter
	droppedC    prometheus.Counter
	retries     prometheus.Counter
	unackedLost prometheus.Counter

	// wrapConn, when set (tests), wraps each raw broker connection before the source's buffering.
	wrapConn func(net.Conn) net.Conn
}

// item is one received message waiting for a worker.
type item struct {
	msg      paho.Message
	conn     *connection
	received time.Time
	slot     bool // holds a token of slots
}

// AsyncHandler is a Handler that can also take a message without waiting for it to be stored, and call done
// with what Handle would have returned (*Pipeline implements it).
type AsyncHandler interface {
	Handler
	HandleAsync(ctx context.Context, m Message, done func(error))
}

// connection is one MQTT connection of the source. done is closed when it is lost or dropped on purpose.
type connection struct {
	done chan struct{}
	once sync.Once
	err  error
	// out is the connection's bufferedConn once dialled (nil for websockets or behind a proxy): QoS 1
	// acknowledgements are written to it directly.
	out atomic.Pointer[bufferedConn]
}

func newConnection() *connection { return &connection{done: make(chan struct{})} }

func (c *connection) end(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
	})
}

func (c *connection) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// NewExternal validates cfg and returns an External that is not started yet.
func NewExternal(cfg ExternalConfig, h Handler, deps ExternalDeps) (*External, error) {
	if h == nil {
		return nil, errors.New("ingest: external source needs a Handler")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	broker, user, pass, err := parseBrokerURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ingest: external source %q: %w", cfg.Name, err)
	}
	if cfg.Username == "" {
		cfg.Username = user
	}
	if cfg.Password == "" {
		cfg.Password = pass
	}
	filters := make(map[string]byte, len(cfg.Topics))
	for _, f := range cfg.Topics {
		if err := validateFilter(f); err != nil {
			return nil, fmt.Errorf("ingest: external source %q: topic %q: %w", cfg.Name, f, err)
		}
		if cfg.SharedGroup != "" {
			f = "$share/" + cfg.SharedGroup + "/" + f
		}
		filters[f] = cfg.QoS
	}
	e := &External{
		cfg:         cfg,
		h:           h,
		log:         deps.Logger,
		clk:         clock.Or(deps.Clock),
		broker:      broker,
		filters:     filters,
		seed:        maphash.MakeSeed(),
		username:    cfg.Username,
		password:    cfg.Password,
		idle:        make(chan struct{}, 1),
		stopping:    make(chan struct{}),
		workersStop: make(chan struct{}),
		runDone:     make(chan struct{}),
		reg:         deps.Registerer,
	}
	e.cfg.Password = "" // kept only in e.password, so a printed config or Status cannot show it
	e.log = logx.Component(e.log, "ingest").With("source", cfg.Name, "broker", broker)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.async, _ = h.(AsyncHandler)
	e.slots = make(chan struct{}, cfg.MaxInflight)
	// MaxInflight for messages that hold a token (QoS 1/2: never full for them), as much again for QoS 0
	// messages, which give theirs back once queued, plus one per worker for QoS 0 completions racing the
	// length check in process.
	e.retryQ = make(chan item, 2*cfg.MaxInflight+cfg.Workers)
	perQueue := max(1, cfg.MaxInflight/cfg.Workers-1) // the worker holds one more
	for range cfg.Workers {
		e.queues = append(e.queues, make(chan item, perQueue))
	}
	e.st = ExternalStatus{Name: cfg.Name, URL: broker, ClientID: cfg.ClientID}
	if err := e.initMetrics(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *External) initMetrics() error {
	labels := prometheus.Labels{"source": e.cfg.Name}
	e.connected = prometheus.NewGauge(prometheus.GaugeOpts{Name: "citywatch_ingest_source_connected",
		Help: "1 when the external source is connected and subscribed.", ConstLabels: labels})
	e.reconnects = prometheus.NewCounter(prometheus.CounterOpts{Name: "citywatch_ingest_source_reconnects_total",
		Help: "Connections of the external source established after the first.", ConstLabels: labels})
	e.droppedC = prometheus.NewCounter(prometheus.CounterOpts{Name: "citywatch_ingest_source_dropped_total",
		Help: "QoS 0 messages of the external source that could not be stored (store failure, shutdown).", ConstLabels: labels})
	e.retries = prometheus.NewCounter(prometheus.CounterOpts{Name: "citywatch_ingest_source_handle_retries_total",
		Help: "Retries of messages whose store failed.", ConstLabels: labels})
	e.unackedLost = prometheus.NewCounter(prometheus.CounterOpts{Name: "citywatch_ingest_source_unacked_total",
		Help:        "QoS 1/2 messages left unacknowledged (store failure, connection loss, shutdown): the broker delivers them again.",
		ConstLabels: labels})
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "citywatch_ingest_source_inflight",
		Help: "Messages received from the external source and not yet handled.", ConstLabels: labels},
		func() float64 { return float64(e.pending.Load()) })
	if e.reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{e.connected, e.reconnects, e.droppedC, e.retries, e.unackedLost, inflight} {
		if err := e.reg.Register(c); err != nil {
			e.unregister()
			return fmt.Errorf("ingest: external source %q: registering metrics: %w", e.cfg.Name, err)
		}
		e.collectors = append(e.collectors, c)
	}
	return nil
}

func (e *External) unregister() {
	for _, c := range e.collectors {
		e.reg.Unregister(c)
	}
	e.collectors = nil
}

func (c *ExternalConfig) setDefaults() error {
	if c.Name == "" {
		return errors.New("ingest: external source needs a name")
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("ingest: external source %q needs at least one topic", c.Name)
	}
	if c.QoS > 2 {
		return fmt.Errorf("ingest: external source %q: qos must be 0, 1 or 2, got %d", c.Name, c.QoS)
	}
	if strings.ContainsAny(c.SharedGroup, "/+#") {
		return fmt.Errorf("ingest: external source %q: shared group %q must not contain '/', '+' or '#'", c.Name, c.SharedGroup)
	}
	if c.ClientID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		c.ClientID = "citywatch-" + c.Name + "-" + host
	}
	if c.MaxInflight < 0 || c.Workers < 0 {
		return fmt.Errorf("ingest: external source %q: max_inflight and workers must be >= 0", c.Name)
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 256
	}
	if c.Workers == 0 {
		c.Workers = 16
	}
	c.Workers = min(c.Workers, c.MaxInflight)
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"reconnect_min", &c.ReconnectMin, 500 * time.Millisecond},
		{"reconnect_max", &c.ReconnectMax, 30 * time.Second},
		{"connect_timeout", &c.ConnectTimeout, 10 * time.Second},
		{"keep_alive", &c.KeepAlive, 30 * time.Second},
		{"store_retry_min", &c.StoreRetryMin, 100 * time.Millisecond},
		{"store_retry_max", &c.StoreRetryMax, 5 * time.Second},
		{"store_retry_for", &c.StoreRetryFor, 30 * time.Second},
		{"drain_timeout", &c.DrainTimeout, 5 * time.Second},
	}
	for _, d := range durs {
		if *d.v < 0 {
			return fmt.Errorf("ingest: external source %q: %s must be >= 0, got %s", c.Name, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("ingest: external source %q: reconnect_max %s is below reconnect_min %s", c.Name, c.ReconnectMax, c.ReconnectMin)
	}
	if c.StoreRetryMax < c.StoreRetryMin {
		return fmt.Errorf("ingest: external source %q: store_retry_max %s is below store_retry_min %s", c.Name, c.StoreRetryMax, c.StoreRetryMin)
	}
	return nil
}

// parseBrokerURL checks a broker URL and returns it without userinfo, and the userinfo. Errors never contain
// the URL itself, which may hold a password.
func parseBrokerURL(raw string) (broker, user, pass string, err error) {
	if raw == "" {
		return "", "", "", errors.New("url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return "", "", "", fmt.Errorf("invalid url: %v", ue.Err)
		}
		return "", "", "", errors.New("invalid url")
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "tcps", "ws", "wss":
	default:
		return "", "", "", fmt.Errorf("url scheme %q is not one of tcp, mqtt, ssl, tls, mqtts, tcps, ws, wss", u.Scheme)
	}
	if u.Host == "" {
		return "", "", "", errors.New("url has no host")
	}
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	return u.String(), user, pass, nil
}

// validateFilter checks an MQTT topic filter: non-empty, '#' only as the last level, '+' only as a whole level.
func validateFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	if len(f) > 65535 || strings.ContainsRune(f, 0) {
		return errors.New("invalid topic filter")
	}
	if strings.HasPrefix(f, "$share/") {
		return errors.New("use shared_group instead of a $share/ filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return errors.New("'#' must be the whole last level")
		}
		if strings.Contains(l, "+") && l != "+" {
			return errors.New("'+' must be a whole level")
		}
	}
	return nil
}

// Start starts connecting in the background; it does not wait for the connection. Connection errors are retried
// with backoff and visible in Status. Start fails only when called twice or after Close.
func (e *External) Start() error {
	e.life.Lock()
	defer e.life.Unlock()
	if e.closed {
		return fmt.Errorf("ingest: external source %q is closed", e.cfg.Name)
	}
	if e.started {
		return fmt.Errorf("ingest: external source %q already started", e.cfg.Name)
	}
	e.started = true
	if e.async == nil { // an AsyncHandler takes messages in dispatch
		for _, q := range e.queues {
			e.workers.Add(1)
			go e.work(q, e.process)
		}
	}
	e.workers.Add(1)
	go e.work(e.retryQ, e.processSync)
	go e.run()
	return nil
}

// Close stops the source: it stops taking messages, handles and acknowledges those already received (for at
// most DrainTimeout), disconnects and waits for its goroutines. Unacknowledged QoS 1/2 messages are delivered
// again by the broker on the next start. Close is safe to call twice.
func (e *External) Close() {
	e.life.Lock()
	defer e.life.Unlock()
	if e.closed {
		return
	}
	e.closed = true
	close(e.stopping)
	if e.started {
		<-e.runDone
	}
	e.cancel()
	if e.reg != nil {
		e.unregister()
	}
}

// Connected reports whether the source is connected and subscribed.
func (e *External) Connected() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.Connected && e.st.Subscribed
}

// Status returns the state of the source.
func (e *External) Status() ExternalStatus {
	e.mu.Lock()
	st := e.st
	e.mu.Unlock()
	st.StoreFailing = e.storeFailing.Load()
	st.Inflight = int(e.pending.Load())
	st.Dropped = e.dropped.Load()
	return st
}

// run connects, subscribes, waits for the connection to end and reconnects with backoff until Close.
func (e *External) run() {
	defer close(e.runDone)
	backoff := e.cfg.ReconnectMin
	first := true
	for {
		conn := newConnection()
		client := paho.NewClient(e.clientOptions(conn))
		began := time.Now()
		err := e.connect(client, conn)
		if err == nil {
			if !first {
				e.reconnects.Inc()
				e.mu.Lock()
				e.st.Reconnects++
				e.mu.Unlock()
			}
			first = false
			select {
			case <-conn.done:
				err = conn.err
			case <-e.stopping:
			}
		}
		if e.isStopping() {
			e.shutdown(client, conn)
			return
		}
		conn.end(err)
		client.Disconnect(uint(e.cfg.ConnectTimeout.Milliseconds()))
		e.setDisconnected(err)
		if time.Since(began) >= e.cfg.ReconnectMax {
			backoff = e.cfg.ReconnectMin
		}
		if !e.sleep(jitter(backoff, e.cfg.ReconnectMin, e.cfg.ReconnectMax)) {
			e.shutdown(nil, nil)
			return
		}
		backoff = min(2*backoff, e.cfg.ReconnectMax)
	}
}

// connect connects and subscribes. It returns once both are done, or failed, or Close was called.
func (e *External) connect(client paho.Client, conn *connection) error {
	tok := client.Connect()
	if err := e.wait(tok, conn); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	e.setConnected()
	// Subscribing on every connection, not once, restores the subscriptions should the broker have lost the
	// session. It is done here rather than in paho's OnConnect callback so that Close can wait for it; messages
	// of the resumed session arriving before it completes go to the default handler all the same.
	sub := client.SubscribeMultiple(e.filters, nil)
	if err := e.wait(sub, conn); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if st, ok := sub.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code > 2 {
				return fmt.Errorf("subscribe: the broker refused topic filter %q (code 0x%02x)", f, code)
			}
		}
	}
	e.setSubscribed()
	return nil
}

// wait waits for tok, at most ConnectTimeout, or until the connection ends or Close is called.
func (e *External) wait(tok paho.Token, conn *connection) error {
	t := time.NewTimer(e.cfg.ConnectTimeout + time.Second) // paho's own connect timeout fires first
	defer t.Stop()
	select {
	case <-tok.Done():
		return e.redact(tok.Error())
	case <-conn.done:
		return conn.err
	case <-e.stopping:
		return errors.New("source closing")
	case <-t.C:
		return errors.New("timed out")
	}
}

// shutdown drains the workers and disconnects. client is nil when not connected.
func (e *External) shutdown(client paho.Client, conn *connection) {
	// The default handler no longer queues messages (stopping is closed); let the workers handle what they hold
	// while acknowledgements can still be sent.
	if e.pending.Load() > 0 {
		t := time.NewTimer(e.cfg.DrainTimeout)
		for e.pending.Load() > 0 {
			select {
			case <-e.idle:
			case <-t.C:
				e.log.Warn("ingest: drain timed out; unhandled messages are left to the broker",
					"inflight", e.pending.Load())
				e.cancel()
			}
			if e.ctx.Err() != nil {
				break
			}
		}
		t.Stop()
	}
	if conn != nil {
		conn.end(errors.New("source closing"))
	}
	if client != nil {
		client.Disconnect(uint(min(e.cfg.ConnectTimeout, 2*time.Second).Milliseconds()))
	}
	e.cancel()
	close(e.workersStop)
	e.workers.Wait()
	e.mu.Lock()
	e.st.Connected, e.st.Subscribed = false, false
	e.mu.Unlock()
	e.connected.Set(0)
}

// sleep waits d or until Close; it reports whether d elapsed.
func (e *External) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.stopping:
		return false
	}
}

func (e *External) isStopping() bool {
	select {
	case <-e.stopping:
		return true
	default:
		return false
	}
}

func (e *External) clientOptions(conn *connection) *paho.ClientOptions {
	o := paho.NewClientOptions()
	o.AddBroker(e.broker)
	o.SetClientID(e.cfg.ClientID)
	o.SetUsername(e.username)
	o.SetPassword(e.password)
	o.SetCleanSession(false)
	o.SetProtocolVersion(4)
	// In order: the default handler queues the message for its commit (the pipeline) or to the worker of its
	// topic, blocking while that queue is full, which pauses reading from the broker (back-pressure, no
	// goroutine per message, unlike paho's handler pool of OrderMatters false).
	o.SetOrderMatters(true)
	o.SetAutoAckDisabled(true)
	o.SetAutoReconnect(false) // run() reconnects, with its own backoff and a fresh connection state
	o.SetConnectRetry(false)
	o.SetConnectTimeout(e.cfg.ConnectTimeout)
	o.SetKeepAlive(e.cfg.KeepAlive)
	o.SetWriteTimeout(e.cfg.ConnectTimeout)
	if e.cfg.TLS != nil {
		o.SetTLSConfig(e.cfg.TLS)
	}
	if scheme, _, _ := strings.Cut(e.broker, "://"); scheme != "ws" && scheme != "wss" {
		if fn := openConnection(o, o.TLSConfig, e.wrapConn, conn.out.Store); fn != nil {
			o.SetCustomOpenConnectionFn(fn) // buffered reads, coalesced writes, direct PUBACKs (external_conn.go)
		}
	}
	// paho's default memory store keeps every QoS 1/2 PUBLISH received until paho itself sends its
	// acknowledgement, only to resume a session within the same client after a reconnection. The source never
	// does (a new client per connection; the broker keeps the session), and writes QoS 1 acknowledgements
	// itself (ack), which that store would never see.
	o.SetStore(nopStore{})
	o.SetDefaultPublishHandler(func(c paho.Client, m paho.Message) { e.dispatch(c, conn, m) })
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		conn.end(fmt.Errorf("connection lost: %w", e.redact(err)))
	})
	return o
}

// dispatch queues a received message to the worker of its topic. It blocks while MaxInflight messages are
// held or that worker's queue is full, and gives up (without acknowledging) when the connection ends or the
// source closes.
func (e *External) dispatch(c paho.Client, conn *connection, m paho.Message) {
	it := item{msg: m, conn: conn, received: e.clk.Now()}
	e.pending.Add(1)
	if e.isStopping() {
		e.drop(it, "closing")
		return
	}
	inline := e.async != nil
	if inline && m.Qos() == 0 {
		// Nothing to acknowledge: no token (process gave it back once the pipeline queued the message, which is
		// when this call returns). The pipeline's bounded queue holds it from there.
		e.process(it)
		return
	}
	if why := waitSend(e, c, conn, e.slots, struct{}{}); why != "" {
		e.drop(it, why)
		return
	}
	it.slot = true
	if inline {
		// The pipeline maps and queues the message here, in paho's routing goroutine, in the order received,
		// and does not wait for its commit: a hand-off to a worker would only add a goroutine wake-up per
		// message (the commit is the pipeline's own goroutine, where messages share one).
		e.process(it)
		return
	}
	q := e.queues[maphash.String(e.seed, m.Topic())%uint64(len(e.queues))]
	if why := waitSend(e, c, conn, q, it); why != "" {
		e.drop(it, why)
	}
}

// waitSend sends v on ch, waiting until the connection ends or the source closes; it returns why it gave up,
// or "" once sent.
func waitSend[T any](e *External, c paho.Client, conn *connection, ch chan T, v T) string {
	select {
	case ch <- v:
		return ""
	default:
	}
	// paho reports a lost connection only after this handler returned, so check its state while blocked.
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case ch <- v:
			return ""
		case <-conn.done:
			return "connection ended"
		case <-e.stopping:
			return "closing"
		case <-t.C:
			if !c.IsConnectionOpen() {
				return "connection ended"
			}
		}
	}
}

// work handles the messages of one queue in order until the source stops.
func (e *External) work(q chan item, process func(item)) {
	defer e.workers.Done()
	for {
		select {
		case it := <-q:
			process(it)
		case <-e.workersStop:
			for {
				select {
				case it := <-q:
					e.drop(it, "closing")
				default:
					return
				}
			}
		}
	}
}

// process hands one message to the Handler. With an AsyncHandler the worker goes on to its next message
// while this one waits for its commit (so the messages of all workers share commits, in the order of each
// topic): it is acknowledged once stored, and a store failure hands it to the retry worker (retryQ), which
// retries with processSync.
func (e *External) process(it item) {
	if e.async == nil {
		e.processSync(it)
		return
	}
	m := Message{Topic: it.msg.Topic(), Payload: it.msg.Payload(), Received: it.received, Source: e.cfg.Name}
	// A QoS 0 message has nothing to acknowledge: once the pipeline queued it (its queue is bounded, and
	// HandleAsync waits while it is full), it gives its token back, so that reading from the broker does not
	// stop after MaxInflight messages per commit. QoS 0 never waits on an ack path.
	early := it.slot && it.msg.Qos() == 0
	if early {
		it.slot = false
	}
	defer func() {
		if early {
			<-e.slots
		}
	}()
	e.async.HandleAsync(e.ctx, m, func(err error) {
		if err == nil {
			e.acked(it)
			return
		}
		if !it.slot && len(e.retryQ) >= e.cfg.MaxInflight {
			// A QoS 0 message beyond its share of the retry queue (every commit is failing): dropped and
			// counted, so the queue keeps room for every message that holds a token.
			e.drop(it, "retry queue full")
			return
		}
		select {
		case e.retryQ <- it:
		default: // cannot happen (see the capacity of retryQ)
			e.drop(it, "retry queue full")
		}
	})
}

// acked acknowledges a stored message and finishes it.
func (e *External) acked(it item) {
	ack(it)
	if e.storeFailing.Load() {
		e.storeRecovered()
	}
	e.finish(it)
}

// ack acknowledges a message: a QoS 1 message with a PUBACK written straight to its connection when the source
// dialled it, in the order the commits complete (the order received, MQTT 3.1.1 §4.6, but for retried
// messages), anything else through paho.
func ack(it item) {
	if it.msg.Qos() == 1 {
		if out := it.conn.out.Load(); out != nil {
			_ = out.puback(it.msg.MessageID()) // a failed connection: the broker delivers the message again
			return
		}
	}
	it.msg.Ack()
}

// processSync hands one message to the Handler and acknowledges it once handled, retrying store failures.
func (e *External) processSync(it item) {
	m := Message{Topic: it.msg.Topic(), Payload: it.msg.Payload(), Received: it.received, Source: e.cfg.Name}
	qos := it.msg.Qos()
	start := time.Now()
	wait := e.cfg.StoreRetryMin
	for {
		err := e.h.Handle(e.ctx, m)
		if err == nil {
			e.acked(it)
			return
		}
		e.storeFailed(err)
		switch {
		case e.isStopping():
			e.drop(it, "closing")
			return
		case qos > 0 && it.conn.ended():
			e.drop(it, "connection ended")
			return
		case time.Since(start) >= e.cfg.StoreRetryFor:
			if qos > 0 {
				e.log.Error("ingest: store failing; disconnecting so that the broker delivers unacknowledged messages again",
					"err", err, "retried_for", e.cfg.StoreRetryFor)
				it.conn.end(fmt.Errorf("store failing: %w", err))
			}
			e.drop(it, "store failing")
			return
		}
		e.retries.Inc()
		var ended <-chan struct{}
		if qos > 0 {
			ended = it.conn.done
		}
		t := time.NewTimer(jitter(wait, e.cfg.StoreRetryMin, e.cfg.StoreRetryMax))
		select {
		case <-t.C:
		case <-ended:
		case <-e.stopping:
		}
		t.Stop()
		wait = min(2*wait, e.cfg.StoreRetryMax)
	}
}

// drop gives up on a message without acknowledging it: QoS 1/2 messages come again from the broker, QoS 0 ones
// are lost and counted.
func (e *External) drop(it item, why string) {
	if it.msg.Qos() == 0 {
		e.droppedC.Inc()
		if n := e.dropped.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th, ... drop
			e.log.Warn("ingest: QoS 0 message dropped", "reason", why, "dropped_total", n)
		}
	} else {
		e.unackedLost.Inc()
	}
	e.finish(it)
}

// finish marks one message as finished and frees its token.
func (e *External) finish(it item) {
	if it.slot {
		<-e.slots
	}
	e.done()
}

// done marks one message as finished.
func (e *External) done() {
	if e.pending.Add(-1) == 0 && e.isStopping() {
		select {
		case e.idle <- struct{}{}:
		default:
		}
	}
}

func (e *External) storeFailed(err error) {
	e.storeFailing.Store(true)
	msg := e.redact(err).Error()
	e.mu.Lock()
	changed := msg != e.lastStore
	e.lastStore = msg
	e.st.LastError, e.st.LastErrorTime = msg, e.clk.Now()
	e.mu.Unlock()
	if changed {
		e.log.Warn("ingest: storing a message failed; retrying without acknowledging", "err", msg)
	}
}

func (e *External) storeRecovered() {
	e.storeFailing.Store(false)
	e.mu.Lock()
	e.lastStore = ""
	e.mu.Unlock()
	e.log.Info("ingest: storing works again")
}

func (e *External) setConnected() {
	e.mu.Lock()
	e.st.Connected, e.st.Since = true, e.clk.Now()
	wasErr := e.lastConnErr != ""
	e.lastConnErr = ""
	e.mu.Unlock()
	if wasErr {
		e.log.Info("ingest: connected to broker", "client_id", e.cfg.ClientID)
	} else {
		e.log.Debug("ingest: connected to broker", "client_id", e.cfg.ClientID)
	}
}

func (e *External) setSubscribed() {
	e.mu.Lock()
	e.st.Subscribed = true
	e.mu.Unlock()
	e.connected.Set(1)
}

// setDisconnected records why a connection ended or failed; it logs only when the error changes.
func (e *External) setDisconnected(err error) {
	if err == nil {
		err = errors.New("disconnected")
	}
	msg := e.redact(err).Error()
	now := e.clk.Now()
	e.mu.Lock()
	if e.st.Connected {
		e.st.Since = now
	}
	e.st.Connected, e.st.Subscribed = false, false
	e.st.LastError, e.st.LastErrorTime = msg, now
	changed := msg != e.lastConnErr
	e.lastConnErr = msg
	e.mu.Unlock()
	e.connected.Set(0)
	if changed {
		e.log.Warn("ingest: broker connection down; reconnecting with backoff", "err", msg)
	}
}

// redact removes the password from an error text, should a library ever include it.
func (e *External) redact(err error) error {
	if err == nil || e.password == "" || !strings.Contains(err.Error(), e.password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), e.password, "<redacted>"))
}

// jitter returns d ±10%, within [lo, hi], so that many collectors do not reconnect in lockstep.
func jitter(d, lo, hi time.Duration) time.Duration {
	if d <= 0 {
		return lo
	}
	d += time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return min(max(d, lo), hi)
}
