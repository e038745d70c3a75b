package dashboards

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/dashboards/auth"
)

// Limits bound what clients can hold of the server, so no client, slow or many, stops it serving the others.
// Zero fields take their defaults.
type Limits struct {
	// MaxConnections caps the open connections (idle keep-alives, event streams and WebSockets included); a
	// connection over the cap is closed as soon as it is accepted. It defaults to 1024.
	MaxConnections int
	// MaxConnectionsPerAddress caps the open connections of one client address, so one client cannot take
	// every connection. It defaults to 256.
	MaxConnectionsPerAddress int
	// ReadHeaderTimeout bounds reading a request's headers. It defaults to 10s.
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout bounds reading a request's body, counted from the end of its headers. It defaults to 30s.
	BodyReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection after this long without a request. It defaults to 2m.
	IdleTimeout time.Duration
	// MaxBodyBytes caps a request body (413 beyond). It defaults to 1 MiB.
	MaxBodyBytes int64
	// MaxLoginBodyBytes caps the body of POST /api/login, which anyone may send. It defaults to 16 KiB.
	MaxLoginBodyBytes int64
	// MaxEventStreams caps the open /api/events streams in total (429 beyond). It defaults to 256.
	MaxEventStreams int
	// MaxEventStreamsPerPrincipal caps the open /api/events streams of one user or token (429 beyond). It
	// defaults to 8.
	MaxEventStreamsPerPrincipal int
}

// limitMetrics are the server's metrics of its limits, registered on reg (nil registers nothing).
func (s *Server) limitMetrics(reg prometheus.Registerer) {
	f := promauto.With(reg)
	s.connsRejected = f.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_http_connections_rejected_total",
		Help: "Connections closed on accept because http.limits.max_connections were open, in all or from the client's address.",
	})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_http_connections_open",
		Help: "Open HTTP connections, event streams and WebSockets included.",
	}, func() float64 {
		if l := s.limitLn.Load(); l != nil {
			return float64(l.openConns())
		}
		return 0
	})
	s.bodyRejected = f.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_http_request_bodies_too_large_total",
		Help: "Requests whose body ran over its route's cap (answered 413).",
	})
	s.streamsRejected = f.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_http_event_streams_rejected_total",
		Help: "Event streams refused (429) by scope of the cap reached: principal or total.",
	}, []string{"scope"})
	s.streamCaps = &streamLimiter{max: s.cfg.Limits.MaxEventStreams, per: s.cfg.Limits.MaxEventStreamsPerPrincipal,
		open: map[string]int{}}
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defB := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxConnections, 1024)
	def(&l.MaxConnectionsPerAddress, 256)
	defD(&l.ReadHeaderTimeout, 10*time.Second)
	defD(&l.BodyReadTimeout, 30*time.Second)
	defD(&l.IdleTimeout, 2*time.Minute)
	defB(&l.MaxBodyBytes, 1<<20)
	defB(&l.MaxLoginBodyBytes, 16<<10)
	def(&l.MaxEventStreams, 256)
	def(&l.MaxEventStreamsPerPrincipal, 8)
	return l
}

// limitListener closes connections over its caps (in all, and per client address) as soon as they are
// accepted, rather than leaving them queued in the kernel: a client over a cap fails fast, and the connections
// already open (a monitoring scrape, an operator's browser) keep being served. Slow clients cannot hold
// connections for long (header, body and idle deadlines), and one address cannot take them all, so the cap is
// reached only by many clients at once. The address is the TCP peer: behind a reverse proxy every client
// shares the proxy's.
type limitListener struct {
	net.Listener
	max, perAddr int
	rejected     prometheus.Counter
	warn         *logEvery
	mu           sync.Mutex
	open         int
	byAddr       map[netip.Addr]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerAddr(c)
		if why := l.take(addr); why != "" {
			l.rejected.Inc()
			l.warn.log("connection refused: "+why, "max_connections", l.max, "max_connections_per_address", l.perAddr)
			_ = c.Close()
			continue
		}
		return &countedConn{Conn: c, l: l, addr: addr}, nil
	}
}

// take counts a new connection from addr, or says which cap it is over.
func (l *limitListener) take(addr netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.max:
		return "too many open connections"
	case addr.IsValid() && l.byAddr[addr] >= l.perAddr:
		return "too many open connections from one address"
	}
	l.open++
	if addr.IsValid() {
		l.byAddr[addr]++
	}
	return ""
}

func (l *limitListener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if !addr.IsValid() {
		return
	}
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
}

// openConns is the number of connections open.
func (l *limitListener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// peerAddr is c's remote IP address, or the zero Addr when it has none (not TCP).
func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// countedConn gives its place back when closed, whoever closes it (the server, or a WebSocket handler that
// hijacked it).
type countedConn struct {
	net.Conn
	l    *limitListener
	addr netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

// logEvery logs a warning at most once per interval, with the number of times it was suppressed, so a flood of
// rejections is seen without flooding the log.
type logEvery struct {
	l          *slog.Logger
	interval   time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (e *logEvery) log(msg string, args ...any) {
	e.mu.Lock()
	now := time.Now()
	if !e.last.IsZero() && now.Sub(e.last) < e.interval {
		e.suppressed++
		e.mu.Unlock()
		return
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	e.mu.Unlock()
	e.l.Warn(msg, append(args, "suppressed_since_last", n)...)
}

// limitBodies bounds every request body: a declared Content-Length over the route's cap is answered 413 before
// any of it is read, a body running over it fails the handler's read (413 from the JSON handlers), and the
// whole body must arrive within BodyReadTimeout of the headers, or the connection is cut. Requests without a
// body (event streams, WebSocket upgrades) get no read deadline: their connections stay open as long as they
// are used.
func (s *Server) limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		// Unsupported only by test recorders, which have no connection to bound.
		_ = rc.SetReadDeadline(time.Now().Add(s.cfg.Limits.BodyReadTimeout))
		limit := s.bodyLimit(r)
		if r.ContentLength > limit {
			s.bodyRejected.Inc()
			closeAfter(w, r)
			WriteError(w, http.StatusRequestEntityTooLarge, "request body too large", map[string]int64{"limit_bytes": limit})
			// The server would read up to 256 KiB of the unwanted body before closing; an expired deadline
			// makes it close right after the response.
			_ = rc.SetReadDeadline(time.Now())
			return
		}
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), w: w, r: r, rc: rc, rejected: s.bodyRejected}
		h.ServeHTTP(w, r)
	})
}

// closeAfter asks an HTTP/1 server to close r's connection after the response rather than read the rest of
// an unwanted body. (HTTP/2 would take "Connection: close" as a reason to end the whole connection, with the
// client's other streams; it ends just the stream instead.)
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

// bodyLimit is the body cap of r's route: small for the login anyone may send, MaxBodyBytes for the rest.
func (s *Server) bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && r.URL.Path == "/api/login" {
		return s.cfg.Limits.MaxLoginBodyBytes
	}
	return s.cfg.Limits.MaxBodyBytes
}

// limitedBody is a request body under a size cap and a read deadline. Once the body is read to its end the
// deadline is lifted: the server then watches the connection for the client going away, and a deadline
// firing there would cancel a handler still at work.
type limitedBody struct {
	io.ReadCloser
	w        http.ResponseWriter
	r        *http.Request
	rc       *http.ResponseController
	rejected prometheus.Counter
	ended    bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil || b.ended:
	case errors.Is(err, io.EOF):
		b.ended = true
		_ = b.rc.SetReadDeadline(time.Time{})
	default:
		b.ended = true
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			b.rejected.Inc()
			closeAfter(b.w, b.r)
			_ = b.rc.SetReadDeadline(time.Now()) // close after the response instead of reading the rest
		}
	}
	return n, err
}

// streamLimiter counts open event streams in total and per principal.
type streamLimiter struct {
	mu       sync.Mutex
	max, per int
	total    int
	open     map[string]int
}

// acquire takes a place for a stream of key; it returns "" and a release func, or the scope whose cap is
// reached ("principal" or "total") and that cap.
func (l *streamLimiter) acquire(key string) (scope string, limit int, release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open[key] >= l.per:
		return "principal", l.per, nil
	case l.total >= l.max:
		return "total", l.max, nil
	}
	l.open[key]++
	l.total++
	var once sync.Once
	return "", 0, func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.open[key]--; l.open[key] <= 0 {
				delete(l.open, key)
			}
		})
	}
}

// streamKey is whose stream r opens: the principal, or for anonymous requests (the demo's viewer, or no
// access control) the client address, so one anonymous client cannot take every anonymous place.
func (s *Server) streamKey(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok && !(s.cfg.AnonymousRead && p.ID == anonymousViewer.ID) {
		return string(p.Kind) + ":" + p.ID
	}
	if s.deps.Auth != nil {
		return "addr:" + s.deps.Auth.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// limitStreams serves h, an event stream, only within the stream caps; over them it answers 429.
func (s *Server) limitStreams(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scope, limit, release := s.streamCaps.acquire(s.streamKey(r))
		if release == nil {
			s.streamsRejected.WithLabelValues(scope).Inc()
			w.Header().Set("Retry-After", "30")
			WriteError(w, http.StatusTooManyRequests, "too many open event streams",
				map[string]any{"scope": scope, "limit": limit})
			return
		}
		defer release()
		h(w, r)
	}
}
