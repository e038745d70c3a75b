package dashboards

import (
	"container/list"
	"context"
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
	"citywatch/dashboards/live"
)

// Limits bound what clients can hold of the server, so no client, slow or many, stops it serving the others.
// Zero fields take their defaults.
type Limits struct {
	// MaxConnections caps the open connections (idle keep-alives, event streams and WebSockets included). A
	// connection over the cap takes the place of the longest idle keep-alive, or is closed as soon as it is
	// accepted when none is idle. It defaults to 1024.
	MaxConnections int
	// MaxConnectionsPerAddress caps the open connections of one client address (of one /64 for IPv6), so one
	// client cannot take every connection; over it, a new connection takes the place of that address's longest
	// idle one, or is closed. It defaults to 64.
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
	// MaxEventStreams caps the open /api/events streams in total (429 beyond, unless the principal has a
	// stream of its own to give up: then its oldest ends). It defaults to 256.
	MaxEventStreams int
	// MaxEventStreamsPerPrincipal caps the open /api/events streams of one user or token: a new stream beyond
	// it ends that principal's oldest (a reload never locks a person out). It defaults to 8.
	MaxEventStreamsPerPrincipal int
}

// limitMetrics are the server's metrics of its limits, registered on reg (nil registers nothing).
func (s *Server) limitMetrics(reg prometheus.Registerer) {
	f := promauto.With(reg)
	s.connsRejected = f.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_http_connections_rejected_total",
		Help: "Connections closed on accept because http.limits.max_connections were open, in all or from the client's address, and none of them idle.",
	})
	s.connsEvicted = f.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_http_idle_connections_closed_total",
		Help: "Idle keep-alive connections closed to make room for a new connection over http.limits.max_connections.",
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
	s.streamsEvicted = f.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_http_event_streams_evicted_total",
		Help: "Event streams ended to make room for a newer stream of the same principal over max_event_streams_per_principal.",
	})
	s.streamCaps = &streamLimiter{max: s.cfg.Limits.MaxEventStreams, per: s.cfg.Limits.MaxEventStreamsPerPrincipal,
		open: map[string]*list.List{}}
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
	def(&l.MaxConnectionsPerAddress, 64)
	defD(&l.ReadHeaderTimeout, 10*time.Second)
	defD(&l.BodyReadTimeout, 30*time.Second)
	defD(&l.IdleTimeout, 2*time.Minute)
	defB(&l.MaxBodyBytes, 1<<20)
	defB(&l.MaxLoginBodyBytes, 16<<10)
	def(&l.MaxEventStreams, 256)
	def(&l.MaxEventStreamsPerPrincipal, 8)
	return l
}

// limitListener bounds the open connections, in all and per client address, as they are accepted. A new
// connection over a cap takes the place of the connection that has been idle longest (of its own address, for
// the per-address cap): an idle keep-alive is only a client's wish to save a handshake, and clients reconnect
// when it is closed, whereas refusing would let a few clients that keep connections idle lock everyone else
// out, the kubelet's probes included. Only when no connection can be taken back (all new, serving a request,
// or hijacked by a WebSocket) is the new one closed at once rather than left queued in the kernel: it fails
// fast, and the connections already open keep being served. Slow clients cannot hold new connections for long
// (header and body deadlines). The address is the TCP peer, its /64 for IPv6 (see peerKey): behind a reverse
// proxy every client shares the proxy's.
//
// The server reports each connection's state through connState; accepting is O(1): the idle connections are
// kept in lists ordered by when they went idle, oldest first.
type limitListener struct {
	net.Listener
	max, perAddr int
	rejected     prometheus.Counter
	evicted      prometheus.Counter
	warn         *logEvery
	mu           sync.Mutex
	open         int
	idle         list.List // of *trackedConn, oldest idle first
	byAddr       map[netip.Prefix]*peerConns
}

// peerConns are the connections of one client address (peerKey).
type peerConns struct {
	open int
	idle list.List // of *trackedConn, oldest idle first
}

func newLimitListener(ln net.Listener, l Limits, rejected, evicted prometheus.Counter, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, max: l.MaxConnections, perAddr: l.MaxConnectionsPerAddress,
		rejected: rejected, evicted: evicted, byAddr: map[netip.Prefix]*peerConns{},
		warn: &logEvery{l: log, interval: time.Minute}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, victim, why := l.take(c, peerKey(peerAddr(c)))
		if victim != nil {
			l.evicted.Inc()
			_ = victim.Conn.Close() // its server goroutine sees the read fail and ends
		}
		if why != "" {
			l.rejected.Inc()
			l.warn.log("connection refused: "+why, "max_connections", l.max, "max_connections_per_address", l.perAddr)
			_ = c.Close()
			continue
		}
		return tc, nil
	}
}

// take counts c, a new connection from key, making room by giving up the longest idle connection when a cap
// is reached; that victim, already uncounted, is for the caller to close. When no connection can make room
// it says which cap c is over instead.
func (l *limitListener) take(c net.Conn, key netip.Prefix) (tc *trackedConn, victim *trackedConn, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.byAddr[key]
	switch {
	case key.IsValid() && p != nil && p.open >= l.perAddr:
		if victim = oldest(&p.idle); victim == nil {
			return nil, nil, "too many open connections from one address"
		}
	case l.open >= l.max:
		if victim = oldest(&l.idle); victim == nil {
			return nil, nil, "too many open connections"
		}
	}
	if victim != nil {
		l.releaseLocked(victim)
	}
	if key.IsValid() && l.byAddr[key] == nil { // the victim may have been the address's last
		l.byAddr[key] = &peerConns{}
	}
	l.open++
	if key.IsValid() {
		l.byAddr[key].open++
	}
	return &trackedConn{Conn: c, l: l, key: key}, victim, ""
}

// oldest is the first connection of idle, or nil.
func oldest(idle *list.List) *trackedConn {
	if e := idle.Front(); e != nil {
		return e.Value.(*trackedConn)
	}
	return nil
}

// connState is the http.Server's ConnState hook: it keeps the idle lists in step with the connections.
func (l *limitListener) connState(c net.Conn, state http.ConnState) {
	tc := asTracked(c)
	if tc == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if tc.released {
		return
	}
	l.unidleLocked(tc)
	if state == http.StateIdle {
		tc.idleAll = l.idle.PushBack(tc)
		if p := l.byAddr[tc.key]; p != nil {
			tc.idlePeer = p.idle.PushBack(tc)
		}
	}
}

// asTracked is the trackedConn under c, which TLS wraps.
func asTracked(c net.Conn) *trackedConn {
	for {
		switch v := c.(type) {
		case *trackedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
}

// unidleLocked takes tc off the idle lists, if it is on them.
func (l *limitListener) unidleLocked(tc *trackedConn) {
	if tc.idleAll != nil {
		l.idle.Remove(tc.idleAll)
		tc.idleAll = nil
	}
	if tc.idlePeer != nil {
		if p := l.byAddr[tc.key]; p != nil {
			p.idle.Remove(tc.idlePeer)
		}
		tc.idlePeer = nil
	}
}

// releaseLocked gives tc's place back, once.
func (l *limitListener) releaseLocked(tc *trackedConn) {
	if tc.released {
		return
	}
	tc.released = true
	l.unidleLocked(tc)
	l.open--
	if p := l.byAddr[tc.key]; p != nil {
		if p.open--; p.open <= 0 {
			delete(l.byAddr, tc.key)
		}
	}
}

// openConns is the number of connections open.
func (l *limitListener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// idleConns is the number of connections idle between requests.
func (l *limitListener) idleConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.Len()
}

// peerAddr is c's remote IP address, or the zero Addr when it has none (not TCP).
func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// peerKey is the client of addr for the per-address cap: the IPv4 address, or the /64 of an IPv6 address,
// since a single host is routinely given a whole /64 (RFC 7421, SLAAC privacy addresses) and could otherwise
// open max_connections_per_address from each of its 2^64 addresses. The zero Addr has no key (zero Prefix).
func peerKey(addr netip.Addr) netip.Prefix {
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits) // cannot fail: bits is within addr's length
	return p
}

// trackedConn is a counted connection. It gives its place back when closed, whoever closes it (the server, a
// WebSocket handler that hijacked it, or the listener taking it back while idle).
type trackedConn struct {
	net.Conn
	l   *limitListener
	key netip.Prefix
	// Guarded by l.mu.
	released          bool
	idleAll, idlePeer *list.Element // its places in the idle lists while idle, else nil
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
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
	if isPlanUpload(r) {
		return max(s.cfg.Limits.MaxBodyBytes, s.cfg.Plans.MaxImageBytes)
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

// streamLimiter counts open event streams in total and per principal. A principal's new stream over its cap
// takes the place of its own oldest stream, which is ended (evicted): a person reloading a page or opening
// one tab too many is never locked out by streams the server has not seen close yet (a browser's old page
// whose connection is still being torn down), and a script opening streams in a loop still holds at most
// `per` of them. Only the total cap refuses (429), and only a principal with no stream to give up.
type streamLimiter struct {
	mu       sync.Mutex
	max, per int
	total    int
	open     map[string]*list.List // key → its streams (*openStream), oldest first
}

// openStream is one stream's place: end stops its handler (its request context is cancelled with
// live.ErrEvicted as the cause).
type openStream struct {
	end     context.CancelCauseFunc
	evicted bool // its place was handed to a newer stream; guarded by streamLimiter.mu
}

// acquire takes a place for a stream of key, ended by end if it is evicted later. It returns the release
// func and the stream it evicted (nil if none; the caller ends it outside the lock), or, when the total cap is
// reached and key has no stream to give up, the scope "total" and that cap with a nil release.
func (l *streamLimiter) acquire(key string, end context.CancelCauseFunc) (release func(), evicted *openStream, scope string, limit int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine := l.open[key]
	if mine == nil {
		mine = list.New()
	}
	switch {
	case mine.Len() >= l.per || (l.total >= l.max && mine.Len() > 0):
		evicted = mine.Remove(mine.Front()).(*openStream)
		evicted.evicted = true
		l.total--
	case l.total >= l.max:
		return nil, nil, "total", l.max
	}
	st := &openStream{end: end}
	el := mine.PushBack(st)
	l.open[key] = mine
	l.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if st.evicted {
				return // its place was handed over already
			}
			mine.Remove(el)
			l.total--
			if mine.Len() == 0 {
				delete(l.open, key)
			}
		})
	}, evicted, "", 0
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

// limitStreams serves h, an event stream, within the stream caps: over the principal's cap the principal's
// oldest stream is ended to make room (streamLimiter); over the total cap, with no stream of its own to give up,
// the request is answered 429.
func (s *Server) limitStreams(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, end := context.WithCancelCause(r.Context())
		defer end(nil)
		release, evicted, scope, limit := s.streamCaps.acquire(s.streamKey(r), end)
		if release == nil {
			s.streamsRejected.WithLabelValues(scope).Inc()
			w.Header().Set("Retry-After", "30")
			WriteError(w, http.StatusTooManyRequests, "too many open event streams",
				map[string]any{"scope": scope, "limit": limit})
			return
		}
		defer release()
		if evicted != nil {
			s.streamsEvicted.Inc()
			evicted.end(live.ErrEvicted)
		}
		h(w, r.WithContext(ctx))
	}
}
