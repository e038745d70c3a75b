package broker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// defaultConnectTimeout bounds how long a new connection may take to send its CONNECT packet (and finish the TLS or
// WebSocket handshake). mochi sets no deadline before CONNECT; afterwards it uses the client's keepalive.
const defaultConnectTimeout = 10 * time.Second

// connTracker remembers open connections so a listener's Close can end the ones mochi does not know about
// (those that have not completed CONNECT), and waits for the goroutines serving them.
type connTracker struct {
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// add registers c and one goroutine serving it; it reports false (and closes c) once the tracker is closed.
func (t *connTracker) add(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return false
	}
	if t.conns == nil {
		t.conns = map[net.Conn]struct{}{}
	}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	return true
}

func (t *connTracker) done(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.wg.Done()
}

// startServe registers the serving goroutine; it reports false once the tracker is closed.
func (t *connTracker) startServe() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *connTracker) markClosed() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// closeAll closes the remaining connections and waits for every tracked goroutine.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	for c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// netListener is a mochi listener over a net.Listener that we bound ourselves (plain TCP, or TLS through
// tls.NewListener), so that Start reports bind errors and Addrs reports the bound port.
type netListener struct {
	id             string
	protocol       string
	ln             net.Listener
	connectTimeout time.Duration
	log            *slog.Logger
	conns          connTracker
	m              *metrics // of the client write path; nil in tests that need none
	// disconnect disconnects this listener's clients: Broker.disconnectListener, not the CloseFn mochi
	// passes to Close (that one can deadlock, see disconnectListener).
	disconnect func(listenerID string)
}

var _ listeners.Listener = (*netListener)(nil)

func (l *netListener) ID() string                  { return l.id }
func (l *netListener) Address() string             { return l.ln.Addr().String() }
func (l *netListener) Protocol() string            { return l.protocol }
func (l *netListener) Init(log *slog.Logger) error { l.log = log; return nil }

// Serve accepts connections until the listener is closed, handing each to mochi in its own goroutine.
func (l *netListener) Serve(establish listeners.EstablishFn) {
	if !l.conns.startServe() {
		return
	}
	defer l.conns.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		if !l.conns.add(c) {
			return
		}
		go func() {
			defer l.conns.done(c)
			_ = c.SetDeadline(time.Now().Add(l.connectTimeout))
			// Refused CONNECTs and broken connections are counted and logged by the hooks; mochi's error
			// here adds nothing but per-connection noise.
			err := establish(l.id, newBufferedConn(c, l.m))
			l.log.Debug("mqtt connection ended", "remote", c.RemoteAddr().String(), "err", err)
		}()
	}
}

// Close stops accepting, disconnects this listener's clients (l.disconnect, instead of mochi's CloseFn),
// closes connections still before CONNECT, and waits for all of this listener's goroutines.
func (l *netListener) Close(listeners.CloseFn) {
	l.conns.markClosed()
	_ = l.ln.Close()
	l.disconnect(l.id)
	l.conns.closeAll()
}

// wsListener is a mochi listener serving MQTT over WebSocket (subprotocol "mqtt", any path) on a net.Listener
// we bound ourselves. Each binary WebSocket message carries a chunk of the MQTT byte stream.
type wsListener struct {
	id             string
	ln             net.Listener
	connectTimeout time.Duration
	maxFrame       int64
	log            *slog.Logger
	srv            *http.Server
	upgrader       websocket.Upgrader
	conns          connTracker
	estab          listeners.EstablishFn
	estabMu        sync.Mutex
	m              *metrics                // of the client write path; nil in tests that need none
	disconnect     func(listenerID string) // as netListener.disconnect
}

var _ listeners.Listener = (*wsListener)(nil)

func (l *wsListener) ID() string       { return l.id }
func (l *wsListener) Address() string  { return l.ln.Addr().String() }
func (l *wsListener) Protocol() string { return "ws" }

func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	l.upgrader = websocket.Upgrader{
		Subprotocols: []string{"mqtt", "mqttv3.1"},
		// MQTT clients are devices, not browsers; credentials (not cookies) authorise them.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.handle),
		ReadHeaderTimeout: l.connectTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	if !l.conns.startServe() {
		return
	}
	defer l.conns.wg.Done()
	l.estabMu.Lock()
	l.estab = establish
	l.estabMu.Unlock()
	_ = l.srv.Serve(l.ln) // returns http.ErrServerClosed on Close
}

func (l *wsListener) handle(w http.ResponseWriter, r *http.Request) {
	l.estabMu.Lock()
	establish := l.estab
	l.estabMu.Unlock()
	ws, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has written the HTTP error
	}
	ws.SetReadLimit(l.maxFrame)
	c := &wsConn{Conn: ws.NetConn(), ws: ws}
	if !l.conns.add(c) {
		return
	}
	defer l.conns.done(c)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(l.connectTimeout))
	err = establish(l.id, newBufferedConn(c, l.m))
	l.log.Debug("mqtt websocket connection ended", "remote", r.RemoteAddr, "err", err)
}

// Close stops accepting, disconnects this listener's clients (as netListener.Close), and waits for all of
// this listener's goroutines.
func (l *wsListener) Close(listeners.CloseFn) {
	l.conns.markClosed()
	_ = l.srv.Close() // closes the listener and connections not hijacked by the upgrade
	l.disconnect(l.id)
	l.conns.closeAll()
}

// wsConn adapts a WebSocket connection to the byte stream mochi reads and writes.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader // the current message being read, or nil

	wmu sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errors.New("mqtt over websocket: non-binary message")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.Conn.Close() }
