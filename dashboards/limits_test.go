package dashboards

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/live"
)

// limitsEnv is a started server with access control, an admin token and the given limits.
type limitsEnv struct {
	s     *Server
	a     *auth.Auth
	reg   *prometheus.Registry
	bus   *live.Bus
	token string
}

const limitsAdminToken = "limits-admin-token-0123456789"

func newLimitsEnv(t *testing.T, l Limits, deps Deps) *limitsEnv {
	t.Helper()
	a, lg, _ := newTestAuth(t, auth.Config{AdminToken: limitsAdminToken, Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	e := &limitsEnv{a: a, reg: prometheus.NewRegistry(), bus: live.New(live.Config{}, live.Deps{}), token: limitsAdminToken}
	deps.Auth, deps.Audit, deps.Registerer, deps.Live = a, lg, e.reg, e.bus
	var err error
	e.s, err = New(Config{Listen: "127.0.0.1:0", Limits: l, ShutdownTimeout: time.Second}, deps)
	require.NoError(t, err)
	require.NoError(t, e.s.Start())
	t.Cleanup(func() { _ = e.s.Close() })
	return e
}

// dial opens a raw connection to the server.
func (e *limitsEnv) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.s.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readToEOF reads c until the server closes it, with a generous client-side deadline so that a client giving
// up is never mistaken for the server closing. It returns what was read and whether the server closed.
func readToEOF(c net.Conn) (string, bool) {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), false
	}
	return string(b), true // EOF or reset: the server closed
}

// slowBodyCases send headers and part of a body, then trickle; the server must close the connection.
var slowBodyCases = []struct {
	name, path, ctype string
	length            int
	wantStatus        string // the response the server may send before closing ("" = any or none)
}{
	// The issue's case: an unauthenticated login declaring 100000 bytes is refused before the body is read.
	{"login declaring more than its cap", "/api/login", "application/json", 100000, "HTTP/1.1 413"},
	{"login within its cap", "/api/login", "application/json", 4000, ""},
	{"unauthenticated non-public route", "/api/silences", "application/json", 4000, ""},
}

// TestSlowBodiesAreCutOff: a client that sends its body slower than body_read_timeout is disconnected,
// whatever route it targets, instead of holding a connection and a goroutine for as long as it likes.
func TestSlowBodiesAreCutOff(t *testing.T) {
	e := newLimitsEnv(t, Limits{BodyReadTimeout: 300 * time.Millisecond}, Deps{})
	for _, tc := range slowBodyCases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t)
			_, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n{",
				tc.path, tc.ctype, tc.length)
			require.NoError(t, err)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // trickle one byte every 100ms until the server closes or the test ends
				defer wg.Done()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for i := 0; i < 400; i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
			got, closed := readToEOF(c)
			close(stop)
			wg.Wait()
			require.True(t, closed, "the server kept a trickling client connected (read so far: %q)", got)
			if tc.wantStatus != "" {
				assert.True(t, strings.HasPrefix(got, tc.wantStatus), "response %q", got)
			}
		})
	}
}

// TestBodyLimits: bodies over the route's cap get 413 in the JSON error shape, whether the Content-Length
// declares it (refused before reading) or a chunked body runs over.
func TestBodyLimits(t *testing.T) {
	e := newLimitsEnv(t, Limits{MaxBodyBytes: 4 << 10, MaxLoginBodyBytes: 1 << 10}, Deps{Alerts: fakeAlerts{}})
	big := func(n int) string { return `{"comment":"` + strings.Repeat("x", n) + `"}` }
	cases := []struct {
		name, path, body string
		chunked          bool
		want             int
	}{
		{"login over its cap", "/api/login", `{"username":"` + strings.Repeat("x", 2<<10) + `","password":"p"}`, false, 413},
		{"login over its cap, chunked", "/api/login", `{"username":"` + strings.Repeat("x", 2<<10) + `","password":"p"}`, true, 413},
		{"silence over the cap", "/api/silences", big(8 << 10), false, 413},
		{"silence over the cap, chunked", "/api/silences", big(8 << 10), true, 413},
		{"silence within the cap", "/api/silences", `{}`, false, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			req, err := http.NewRequest("POST", "http://"+e.s.Addr()+tc.path, body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if tc.path != "/api/login" {
				req.Header.Set("Authorization", "Bearer "+e.token)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			require.Equal(t, tc.want, res.StatusCode, "%s", b)
			var eb errorBody
			require.NoError(t, json.Unmarshal(b, &eb), "%s", b)
			assert.NotEmpty(t, eb.Error)
		})
	}
}

// TestConnectionCap: when max_connections are open and none is idle (here: connected, no request sent yet),
// a new connection is closed at once and counted; once one closes, a new connection is served again.
func TestConnectionCap(t *testing.T) {
	e := newLimitsEnv(t, Limits{MaxConnections: 3, MaxEventStreams: 2, MaxEventStreamsPerPrincipal: 2,
		ReadHeaderTimeout: time.Minute}, Deps{})
	var held []net.Conn
	for range 3 {
		held = append(held, e.dial(t))
	}
	require.Eventually(t, func() bool { return e.s.limitLn.Load().openConns() == 3 }, 10*time.Second, 5*time.Millisecond)
	over := e.dial(t)
	_, _ = io.WriteString(over, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") // may fail: the server may have closed already
	got, closed := readToEOF(over)
	require.True(t, closed, "a connection over the cap was kept open")
	require.Empty(t, got, "a connection over the cap was served")
	assert.Equal(t, float64(1), testutil.ToFloat64(e.s.connsRejected))
	assert.Equal(t, float64(0), testutil.ToFloat64(e.s.connsEvicted))
	require.NoError(t, held[0].Close())
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", e.s.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		return getHealthz(c)
	}, 10*time.Second, 20*time.Millisecond)
	for _, c := range held[1:] {
		assert.True(t, getHealthz(c), "a connection within the cap was closed")
	}
}

// TestConnectionCapPerAddress: one client address cannot take every connection. At its cap, a new connection
// from it takes the place of its own longest idle connection, not another address's, even an older one.
func TestConnectionCapPerAddress(t *testing.T) {
	e := newLimitsEnv(t, Limits{MaxConnections: 10, MaxConnectionsPerAddress: 2, MaxEventStreams: 2,
		MaxEventStreamsPerPrincipal: 2}, Deps{})
	from := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", e.s.Addr())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	lim := e.s.limitLn.Load()
	other := from("127.0.0.2")
	require.True(t, getHealthz(other))
	require.Eventually(t, func() bool { return lim.idleConns() == 1 }, 10*time.Second, 5*time.Millisecond)
	first, second := from("127.0.0.1"), from("127.0.0.1")
	require.True(t, getHealthz(first))
	require.Eventually(t, func() bool { return lim.idleConns() == 2 }, 10*time.Second, 5*time.Millisecond)
	require.True(t, getHealthz(second))
	require.Eventually(t, func() bool { return lim.idleConns() == 3 }, 10*time.Second, 5*time.Millisecond)

	require.True(t, getHealthz(from("127.0.0.1")), "a third connection from one address was refused")
	_, closed := readToEOF(first)
	assert.True(t, closed, "the address's longest idle connection was kept")
	assert.True(t, getHealthz(second), "the address's other idle connection was closed")
	assert.True(t, getHealthz(other), "another address's idle connection was closed")
	assert.Equal(t, float64(1), testutil.ToFloat64(e.s.connsEvicted))
	assert.Equal(t, float64(0), testutil.ToFloat64(e.s.connsRejected))
}

// requestStream sends GET /api/events with token; the caller owns the response and ends it with cancel.
func (e *limitsEnv) requestStream(t *testing.T, token string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+e.s.Addr()+"/api/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return res, cancel
}

// openStream opens /api/events with token and returns the status and, for 200, a func that ends the stream.
func (e *limitsEnv) openStream(t *testing.T, token string) (int, []byte, func()) {
	t.Helper()
	res, cancel := e.requestStream(t, token)
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		cancel()
		return res.StatusCode, b, func() {}
	}
	// Wait for the first bytes, so the stream is really open on the server.
	_, err := bufio.NewReader(res.Body).ReadString('\n')
	require.NoError(t, err)
	return res.StatusCode, nil, func() { cancel(); _ = res.Body.Close() }
}

// TestEventStreamCaps: one principal may hold max_event_streams_per_principal streams and everyone together
// max_event_streams; a principal's stream over its own cap ends its oldest, one over the total cap gets 429 in
// the JSON error shape, and a closed stream frees its place.
func TestEventStreamCaps(t *testing.T) {
	e := newLimitsEnv(t, Limits{MaxEventStreams: 3, MaxEventStreamsPerPrincipal: 2}, Deps{})
	other, err := e.a.IssueToken(context.Background(), "other", auth.RoleViewer, []string{auth.AllSitesWildcard}, false, 0)
	require.NoError(t, err)
	third, err := e.a.IssueToken(context.Background(), "third", auth.RoleViewer, []string{auth.AllSitesWildcard}, false, 0)
	require.NoError(t, err)
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	open := func(token string, want int) {
		t.Helper()
		code, body, closeFn := e.openStream(t, token)
		closers = append(closers, closeFn)
		require.Equal(t, want, code, "%s", body)
		if want == http.StatusTooManyRequests {
			var eb errorBody
			require.NoError(t, json.Unmarshal(body, &eb), "%s", body)
			assert.NotEmpty(t, eb.Error)
			assert.NotNil(t, eb.Detail)
		}
	}
	open(e.token, 200)
	open(e.token, 200)
	open(e.token, 200) // over the principal's cap: its oldest ends (TestEventStreamOverPrincipalCapEvictsOldest)
	require.Eventually(t, func() bool { return e.bus.Subscribers() == 2 }, 10*time.Second, 5*time.Millisecond)
	open(other, 200)
	open(third, 429) // in total
	closers[1]()
	require.Eventually(t, func() bool { return e.bus.Subscribers() == 2 }, 10*time.Second, 5*time.Millisecond)
	open(third, 200)
}

// getHealthz sends GET /healthz on c and reads the whole response, leaving c open for the next request; it
// says whether the answer was 200.
func getHealthz(c net.Conn) bool {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// TestIdleConnectionsDoNotLockOut is the reviewer's case: clients that send one request and keep their
// connections idle fill max_connections; a new client (the kubelet's probe) is still served, and the longest
// idle connection was closed to make room.
func TestIdleConnectionsDoNotLockOut(t *testing.T) {
	e := newLimitsEnv(t, Limits{MaxConnections: 3, MaxEventStreams: 2, MaxEventStreamsPerPrincipal: 2}, Deps{})
	lim := e.s.limitLn.Load()
	var held []net.Conn
	for i := range 3 {
		c := e.dial(t)
		require.True(t, getHealthz(c))
		require.Eventually(t, func() bool { return lim.idleConns() == i+1 }, 10*time.Second, 5*time.Millisecond)
		held = append(held, c)
	}
	require.True(t, getHealthz(e.dial(t)), "a new client was locked out by idle keep-alive connections")
	_, closed := readToEOF(held[0])
	assert.True(t, closed, "the longest idle connection was kept")
	for _, c := range held[1:] {
		assert.True(t, getHealthz(c), "a newer idle connection was closed")
	}
	assert.Equal(t, float64(1), testutil.ToFloat64(e.s.connsEvicted))
	assert.Equal(t, float64(0), testutil.ToFloat64(e.s.connsRejected))
}

// TestBusyConnectionsAreNotEvicted: a connection serving a request or hijacked (a WebSocket) is never closed
// to make room; with only those open, a new connection over the cap is refused, and with an idle one too, the
// idle one makes room.
func TestBusyConnectionsAreNotEvicted(t *testing.T) {
	entered, unblock := make(chan struct{}), make(chan struct{})
	h := http.NewServeMux()
	h.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-unblock
	})
	h.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_, _ = rw.WriteString("hijacked\n")
		_ = rw.Flush()
		_, _ = io.Copy(c, rw) // echo until the client closes
	})
	h.HandleFunc("/", func(http.ResponseWriter, *http.Request) {})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rejected, evicted := prometheus.NewCounter(prometheus.CounterOpts{Name: "r"}), prometheus.NewCounter(prometheus.CounterOpts{Name: "e"})
	lim := newLimitListener(ln, Limits{MaxConnections: 3, MaxConnectionsPerAddress: 3}, rejected, evicted, slog.New(slog.DiscardHandler))
	srv := &http.Server{Handler: h, ConnState: lim.connState, ReadHeaderTimeout: time.Minute}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lim) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	refused := func() bool {
		c := dial()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		got, closed := readToEOF(c)
		return closed && got == ""
	}

	active := dial()
	_, err = io.WriteString(active, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	<-entered
	hijacked := dial()
	_, err = io.WriteString(hijacked, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	hr := bufio.NewReader(hijacked)
	line, err := hr.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "hijacked\n", line)

	idle := dial()
	require.True(t, getHealthz(idle))
	require.Eventually(t, func() bool { return lim.idleConns() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.True(t, getHealthz(dial()), "a new connection was refused with an idle one open")
	_, closed := readToEOF(idle)
	assert.True(t, closed, "the idle connection was kept")
	assert.Equal(t, float64(1), testutil.ToFloat64(evicted))

	// Open now: active, hijacked and the last client's connection, idle. A connection that sends nothing
	// takes the idle one's place; then none is idle, and the next connection is refused.
	require.Eventually(t, func() bool { return lim.idleConns() == 1 }, 10*time.Second, 5*time.Millisecond)
	fresh := dial() // takes the idle one's place; it sends nothing, so it is new, not idle
	require.Eventually(t, func() bool { return testutil.ToFloat64(evicted) == 2 }, 10*time.Second, 5*time.Millisecond)
	assert.True(t, refused(), "a connection over the cap was served with none idle")
	assert.Equal(t, float64(1), testutil.ToFloat64(rejected))
	assert.Equal(t, 3, lim.openConns())

	// The busy connections were left alone.
	_, err = io.WriteString(hijacked, "ping\n")
	require.NoError(t, err)
	line, err = hr.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "ping\n", line)
	close(unblock)
	_ = active.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(active), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	_ = res.Body.Close()
	_ = fresh.Close()
	_ = hijacked.Close()
}

// peerKeyCases: IPv4 addresses count one by one, IPv6 ones by their /64.
var peerKeyCases = []struct {
	a, b string
	same bool
}{
	{"192.0.2.1", "192.0.2.1", true},
	{"192.0.2.1", "192.0.2.2", false},
	{"::ffff:192.0.2.1", "192.0.2.1", true}, // IPv4-mapped is the IPv4 address
	{"2001:db8:1:2::1", "2001:db8:1:2::1", true},
	{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
	{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
	{"fe80::1%eth0", "fe80::2%eth1", true},
	{"::1", "::2", true},
	{"::1", "127.0.0.1", false},
}

func TestPeerKey(t *testing.T) {
	for _, tc := range peerKeyCases {
		a, b := netip.MustParseAddr(tc.a), netip.MustParseAddr(tc.b)
		ka, kb := peerKey(a), peerKey(b)
		assert.True(t, ka.IsValid() && ka.Contains(a.Unmap().WithZone("")), "%s: key %s", tc.a, ka)
		assert.Equal(t, tc.same, ka == kb, "%s (%s) and %s (%s)", tc.a, ka, tc.b, kb)
	}
	assert.False(t, peerKey(netip.Addr{}).IsValid(), "an address-less peer has a key")
}

// TestIPv6SlashSixtyFourSharesCap: connections from different addresses of one /64 count against one
// per-address cap.
func TestIPv6SlashSixtyFourSharesCap(t *testing.T) {
	lim := newLimitListener(nil, Limits{MaxConnections: 10, MaxConnectionsPerAddress: 2},
		prometheus.NewCounter(prometheus.CounterOpts{Name: "r"}), prometheus.NewCounter(prometheus.CounterOpts{Name: "e"}),
		slog.New(slog.DiscardHandler))
	take := func(ip string) string {
		_, _, why := lim.take(nil, peerKey(netip.MustParseAddr(ip)))
		return why
	}
	assert.Empty(t, take("2001:db8::1"))
	assert.Empty(t, take("2001:db8::ffff:2"))
	assert.NotEmpty(t, take("2001:db8::3"), "a third address of the /64 was let in")
	assert.Empty(t, take("2001:db8:0:1::1"), "the next /64 was refused")
}
