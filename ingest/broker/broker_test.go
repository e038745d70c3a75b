package broker

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"citywatch/internal/clock"
	"citywatch/internal/testenv"
)

func anonConfig() Config { return Config{AllowAnonymous: true} }

func TestPublishReachesSink(t *testing.T) {
	sink := newRecordSink()
	b, reg := startBroker(t, anonConfig(), sink)
	c := mustConnect(t, clientOpts("tcp://"+b.Addrs().TCP, "sensor-1", "", ""))
	for _, qos := range []byte{0, 1, 2} {
		topic := "city/d1/siteA/sensor" + string('0'+rune(qos))
		if err := wait(t, c.Publish(topic, qos, false, `{"temperature":21.5}`)); err != nil {
			t.Fatalf("publish qos %d: %v", qos, err)
		}
		eventually(t, "message on "+topic, func() bool {
			ms := sink.messages()
			return len(ms) > 0 && ms[len(ms)-1].Topic == topic
		})
		m := sink.messages()[len(sink.messages())-1]
		if string(m.Payload) != `{"temperature":21.5}` || m.ClientID != "sensor-1" || m.Source != "embedded" || m.Received.IsZero() {
			t.Errorf("qos %d: got %+v", qos, m)
		}
	}
	if n := len(sink.messages()); n != 3 {
		t.Errorf("sink got %d messages, want 3: %v", n, sink.topics())
	}
	if got := counter(t, reg, "citywatch_broker_messages_received_total"); got != 3 {
		t.Errorf("messages_received_total = %v, want 3", got)
	}
	if got := counter(t, reg, "citywatch_broker_connections_total"); got != 1 {
		t.Errorf("connections_total = %v, want 1", got)
	}
	if got := counter(t, reg, "citywatch_broker_clients_connected"); got != 1 {
		t.Errorf("clients_connected = %v, want 1", got)
	}
	c.Disconnect(100)
	eventually(t, "clients_connected 0", func() bool { return counter(t, reg, "citywatch_broker_clients_connected") == 0 })
}

func TestNotIngested(t *testing.T) {
	sink := newRecordSink()
	b, _ := startBroker(t, anonConfig(), sink)
	// Subscribe in process to see that the in-process publishes were routed.
	var routed atomic.Int32
	if err := b.srv.Subscribe("citywatch/#", 1, func(_ *mqttClient, _ packets.Subscription, _ packets.Packet) { routed.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("citywatch/alerts/a1", []byte(`{}`), false, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("city/d1/s1/dev", []byte(`1`), false, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "routed alert", func() bool { return routed.Load() == 1 })
	if got := sink.topics(); len(got) != 1 || got[0] != "city/d1/s1/dev" {
		t.Fatalf("ingested %v, want only city/d1/s1/dev", got)
	}
	if m := sink.messages()[0]; m.ClientID != "" || m.Source != "embedded" {
		t.Errorf("in-process message %+v: want empty ClientID, Source embedded", m)
	}
	// A Sink failure is returned to the in-process publisher and the message is not routed.
	sink.setErr(errStore)
	err := b.Publish("city/d1/s1/dev", []byte(`2`), false, 0)
	if !errors.Is(err, errStore) {
		t.Fatalf("Publish with failing sink: %v, want errStore", err)
	}
	// Network clients may not publish on citywatch/ or $ topics.
	c := mustConnect(t, clientOpts("tcp://"+b.Addrs().TCP, "spoofer", "", ""))
	sink.setErr(nil)
	_ = wait(t, c.Publish("citywatch/alerts/fake", 0, false, "x"))
	_ = wait(t, c.Publish("city/after", 0, false, "x"))
	eventually(t, "city/after", func() bool { return len(sink.messages()) == 3 })
	if ts := sink.topics(); ts[2] != "city/after" {
		t.Errorf("topics %v", ts)
	}
	if routed.Load() != 1 {
		t.Errorf("spoofed citywatch/ publish was routed")
	}
	if err := b.Publish("city/+/x", nil, false, 0); err == nil {
		t.Error("Publish to a wildcard topic succeeded")
	}
}

func TestQoS1AckedOnlyAfterSinkReturns(t *testing.T) {
	for _, mode := range sinkModes {
		t.Run(mode.name, func(t *testing.T) { testQoS1AckedOnlyAfterSinkReturns(t, mode.wrap) })
	}
}

func testQoS1AckedOnlyAfterSinkReturns(t *testing.T, wrap func(testing.TB, Sink) Sink) {
	sink := &blockingSink{entered: make(chan ingestMessage, 1), release: make(chan error)}
	b, _ := startBroker(t, anonConfig(), wrap(t, sink))
	c := mustConnect(t, clientOpts("tcp://"+b.Addrs().TCP, "qos1", "", ""))
	tok := c.Publish("city/d1/s1/dev", 1, false, "42")
	var m ingestMessage
	select {
	case m = <-sink.entered:
	case <-time.After(15 * time.Second):
		t.Fatal("sink not called")
	}
	if m.Topic != "city/d1/s1/dev" || string(m.Payload) != "42" {
		t.Errorf("sink got %+v", m)
	}
	// The sink holds the message: the PUBACK must not have been sent. Give a wrong implementation time to
	// show itself; the assertion is on ordering, not on duration.
	select {
	case <-tok.Done():
		t.Fatal("PUBACK arrived before the sink returned")
	case <-time.After(200 * time.Millisecond):
	}
	sink.release <- nil
	if err := wait(t, tok); err != nil {
		t.Fatalf("publish after release: %v", err)
	}
}

func TestSinkErrorDisconnectsV311(t *testing.T) {
	for _, mode := range sinkModes {
		t.Run(mode.name, func(t *testing.T) { testSinkErrorDisconnectsV311(t, mode.wrap) })
	}
}

func testSinkErrorDisconnectsV311(t *testing.T, wrap func(testing.TB, Sink) Sink) {
	sink := newRecordSink()
	sink.setErr(errStore)
	b, reg := startBroker(t, anonConfig(), wrap(t, sink))
	lost := make(chan error, 1)
	o := clientOpts("tcp://"+b.Addrs().TCP, "v311", "", "").SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	c := mustConnect(t, o)
	tok := c.Publish("city/d1/s1/dev", 1, false, "1")
	select {
	case <-lost:
	case <-time.After(15 * time.Second):
		t.Fatal("client was not disconnected after the sink failed")
	}
	if err := wait(t, tok); err == nil {
		t.Fatal("QoS 1 publish completed although the sink failed")
	}
	if got := counter(t, reg, "citywatch_broker_ingest_failures_total", "outcome", "disconnected"); got != 1 {
		t.Errorf("ingest_failures_total{disconnected} = %v", got)
	}

	// QoS 0: counted as dropped; the client stays connected.
	c2 := mustConnect(t, clientOpts("tcp://"+b.Addrs().TCP, "v311-qos0", "", ""))
	_ = wait(t, c2.Publish("city/d1/s1/dev", 0, false, "1"))
	eventually(t, "dropped counted", func() bool {
		return counter(t, reg, "citywatch_broker_ingest_failures_total", "outcome", "dropped") == 1
	})
	if !c2.IsConnectionOpen() {
		t.Error("QoS 0 client disconnected")
	}
}

func TestSinkErrorNacksV5(t *testing.T) {
	for _, mode := range sinkModes {
		t.Run(mode.name, func(t *testing.T) { testSinkErrorNacksV5(t, mode.wrap) })
	}
}

func testSinkErrorNacksV5(t *testing.T, wrap func(testing.TB, Sink) Sink) {
	sink := newRecordSink()
	b, reg := startBroker(t, anonConfig(), wrap(t, sink))
	c, ack := dialV5(t, b.Addrs().TCP, "v5", "", "")
	if ack.ReasonCode != 0 {
		t.Fatalf("connack reason %#x", ack.ReasonCode)
	}
	if ack.Properties.MaximumPacketSize != DefaultMaxMessageBytes {
		t.Errorf("CONNACK maximum packet size %d, want %d", ack.Properties.MaximumPacketSize, DefaultMaxMessageBytes)
	}
	c.publish("city/ok", []byte("1"), 1, 1)
	if pk, err := c.read(); err != nil || pk.FixedHeader.Type != packets.Puback || pk.ReasonCode != 0 {
		t.Fatalf("ok publish: type %d reason %#x err %v", pk.FixedHeader.Type, pk.ReasonCode, err)
	}
	sink.setErr(errStore)
	for _, tc := range []struct {
		qos     byte
		ackType byte
	}{{1, packets.Puback}, {2, packets.Pubrec}} {
		c.publish("city/fail", []byte("1"), tc.qos, 10+uint16(tc.qos))
		pk, err := c.read()
		if err != nil {
			t.Fatalf("qos %d: read ack: %v", tc.qos, err)
		}
		if pk.FixedHeader.Type != tc.ackType || pk.PacketID != 10+uint16(tc.qos) || pk.ReasonCode != 0x80 {
			t.Errorf("qos %d: got type %d id %d reason %#x, want type %d reason 0x80", tc.qos,
				pk.FixedHeader.Type, pk.PacketID, pk.ReasonCode, tc.ackType)
		}
		if !strings.Contains(pk.Properties.ReasonString, "not stored") {
			t.Errorf("reason string %q", pk.Properties.ReasonString)
		}
	}
	if got := counter(t, reg, "citywatch_broker_ingest_failures_total", "outcome", "nacked"); got != 2 {
		t.Errorf("ingest_failures_total{nacked} = %v, want 2", got)
	}
	// The connection is still usable.
	sink.setErr(nil)
	c.publish("city/ok2", []byte("1"), 1, 20)
	if pk, err := c.read(); err != nil || pk.ReasonCode != 0 || pk.PacketID != 20 {
		t.Fatalf("publish after failures: reason %#x err %v", pk.ReasonCode, err)
	}
}

var authUsers = []User{
	{Username: "alice", Publish: []string{"city/{username}/#"}, Subscribe: []string{"city/{username}/#", "alerts/+"}},
	{Username: "ops", Publish: []string{"#"}, Subscribe: []string{"#"}},
}

func authConfig(t testing.TB) Config {
	users := append([]User(nil), authUsers...)
	for i := range users {
		users[i].PasswordHash = hashOf(t, users[i].Username+"-secret")
	}
	return Config{Users: users}
}

var authCases = []struct {
	name       string
	anonymous  bool
	user, pass string
	ok         bool
	reason     string
}{
	{"good password", false, "alice", "alice-secret", true, ""},
	{"bad password", false, "alice", "wrong", false, authBadCredentials},
	{"unknown user", false, "mallory", "alice-secret", false, authBadCredentials},
	{"anonymous refused", false, "", "", false, authAnonymousRefused},
	{"anonymous allowed", true, "", "", true, ""},
	{"users still checked with anonymous allowed", true, "alice", "wrong", false, authBadCredentials},
}

func TestAuth(t *testing.T) {
	for _, tc := range authCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := authConfig(t)
			cfg.AllowAnonymous = tc.anonymous
			b, reg := startBroker(t, cfg, newRecordSink())
			_, err := connect(t, clientOpts("tcp://"+b.Addrs().TCP, "c1", tc.user, tc.pass))
			if tc.ok != (err == nil) {
				t.Fatalf("connect err = %v, want ok=%v", err, tc.ok)
			}
			if tc.reason != "" {
				if got := counter(t, reg, "citywatch_broker_auth_failures_total", "reason", tc.reason); got != 1 {
					t.Errorf("auth_failures_total{%s} = %v, want 1", tc.reason, got)
				}
			}
		})
	}
}

// MQTT 5 allows a password without a username (3.1.1 and paho do not); it is not anonymous.
func TestAuthPasswordWithoutUsernameV5(t *testing.T) {
	b, reg := startBroker(t, anonConfig(), newRecordSink())
	_, ack := dialV5(t, b.Addrs().TCP, "v5", "", "x")
	if ack.ReasonCode != packets.ErrBadUsernameOrPassword.Code {
		t.Errorf("connack reason %#x, want %#x", ack.ReasonCode, packets.ErrBadUsernameOrPassword.Code)
	}
	if got := counter(t, reg, "citywatch_broker_auth_failures_total", "reason", authAnonymousRefused); got != 1 {
		t.Errorf("auth_failures_total{anonymous_refused} = %v", got)
	}
}

func TestAuthCacheAndRateLimit(t *testing.T) {
	cfg := authConfig(t)
	b, reg := startBroker(t, cfg, newRecordSink())
	// The limiter gives an address back one attempt every 6 s of its clock; at load average 100 the eleven logins
	// below took longer than that, and ops got in. Its time stands still here (TestLoginLimiter steps the
	// refill on a fake clock).
	lim := b.authHook().limiter
	lim.mu.Lock()
	lim.now = clock.NewFake(time.Now()).Now
	lim.mu.Unlock()
	url := "tcp://" + b.Addrs().TCP
	// alice logs in once: her credentials are cached.
	c := mustConnect(t, clientOpts(url, "a1", "alice", "alice-secret"))
	c.Disconnect(0)
	auth := b.authHook()
	if !auth.cache.has([]byte(cfg.Users[0].PasswordHash), []byte("alice-secret")) {
		t.Fatal("successful login not cached")
	}
	// Failed logins from 127.0.0.1 exhaust its budget.
	for i := 0; i < 10; i++ {
		if _, err := connect(t, clientOpts(url, "x", "alice", "guess")); err == nil {
			t.Fatal("bad password accepted")
		}
	}
	// Now even ops' correct (uncached) password is refused without bcrypt...
	if _, err := connect(t, clientOpts(url, "o1", "ops", "ops-secret")); err == nil {
		t.Fatal("rate-limited address could still log in with uncached credentials")
	}
	if got := counter(t, reg, "citywatch_broker_auth_failures_total", "reason", authRateLimited); got != 1 {
		t.Errorf("auth_failures_total{rate_limited} = %v, want 1", got)
	}
	// ...but alice's cached credentials still work, so a device sharing the address is not locked out.
	mustConnect(t, clientOpts(url, "a2", "alice", "alice-secret"))
}

func TestClientIDOwnedByUser(t *testing.T) {
	b, reg := startBroker(t, authConfig(t), newRecordSink())
	url := "tcp://" + b.Addrs().TCP
	lost := make(chan error, 1)
	first := mustConnect(t, clientOpts(url, "dev-1", "alice", "alice-secret").
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	if _, err := connect(t, clientOpts(url, "dev-1", "ops", "ops-secret")); err == nil {
		t.Fatal("another user took over alice's client id")
	}
	if got := counter(t, reg, "citywatch_broker_auth_failures_total", "reason", authClientIDTaken); got != 1 {
		t.Errorf("auth_failures_total{client_id_taken} = %v", got)
	}
	if !first.IsConnectionOpen() {
		t.Fatal("alice's session was disturbed")
	}
	// The same user may take over its own session (a device reconnecting before the old TCP connection died).
	mustConnect(t, clientOpts(url, "dev-1", "alice", "alice-secret"))
	select {
	case <-lost:
	case <-time.After(15 * time.Second):
		t.Fatal("the old connection was not taken over")
	}
}

func TestPublishACL(t *testing.T) {
	sink := newRecordSink()
	b, reg := startBroker(t, authConfig(t), sink)
	c := mustConnect(t, clientOpts("tcp://"+b.Addrs().TCP, "alice-dev", "alice", "alice-secret"))
	// QoS 0 denials are dropped by mochi; the allowed publish after them proves they were processed (one
	// client's packets are handled in order).
	_ = wait(t, c.Publish("city/bob/x", 0, false, "1"))
	_ = wait(t, c.Publish("citywatch/alerts/x", 0, false, "1"))
	if err := wait(t, c.Publish("city/alice/x", 1, false, "2")); err != nil {
		t.Fatal(err)
	}
	if got := sink.topics(); len(got) != 1 || got[0] != "city/alice/x" {
		t.Fatalf("ingested %v, want only city/alice/x", got)
	}
	if got := counter(t, reg, "citywatch_broker_denied_total", "action", "publish"); got != 2 {
		t.Errorf("denied_total{publish} = %v, want 2", got)
	}
	// A denied QoS 1 publish from a 3.1.1 client ends its connection (no negative PUBACK in 3.1.1).
	if err := wait(t, c.Publish("city/bob/x", 1, false, "3")); err == nil {
		t.Error("denied QoS 1 publish was acknowledged")
	}
	if len(sink.messages()) != 1 {
		t.Errorf("denied message ingested: %v", sink.topics())
	}
}

func TestSubscribeACL(t *testing.T) {
	b, reg := startBroker(t, authConfig(t), newRecordSink())
	got := make(chan string, 10)
	o := clientOpts("tcp://"+b.Addrs().TCP, "alice-sub", "alice", "alice-secret").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- m.Topic() })
	c := mustConnect(t, o)
	tok := c.SubscribeMultiple(map[string]byte{"city/#": 0, "city/alice/+": 0, "alerts/+": 0, "alerts/#": 0}, nil)
	if err := wait(t, tok); err != nil {
		t.Fatal(err)
	}
	res := tok.(*paho.SubscribeToken).Result()
	want := map[string]byte{"city/#": 0x80, "city/alice/+": 0, "alerts/+": 0, "alerts/#": 0x80}
	for f, code := range want {
		if res[f] != code {
			t.Errorf("subscribe %q: code %#x, want %#x", f, res[f], code)
		}
	}
	if n := counter(t, reg, "citywatch_broker_denied_total", "action", "subscribe"); n != 2 {
		t.Errorf("denied_total{subscribe} = %v, want 2", n)
	}
	if err := b.Publish("city/bob/x", []byte("1"), false, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("city/alice/x", []byte("1"), false, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-got:
		if topic != "city/alice/x" {
			t.Errorf("alice received %q", topic)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("alice received nothing")
	}
}

func TestWebSocket(t *testing.T) {
	sink := newRecordSink()
	b, _ := startBroker(t, Config{AllowAnonymous: true, WebSocketListen: "127.0.0.1:0"}, sink)
	if b.Addrs().WebSocket == "" {
		t.Fatal("no websocket address")
	}
	c := mustConnect(t, clientOpts("ws://"+b.Addrs().WebSocket+"/mqtt", "ws-dev", "", ""))
	payload := bytes.Repeat([]byte("x"), 10000) // spans several reads
	if err := wait(t, c.Publish("city/ws", 1, false, payload)); err != nil {
		t.Fatal(err)
	}
	ms := sink.messages()
	if len(ms) != 1 || ms[0].Topic != "city/ws" || !bytes.Equal(ms[0].Payload, payload) || ms[0].ClientID != "ws-dev" {
		t.Fatalf("got %d messages", len(ms))
	}
}

func TestTLS(t *testing.T) {
	cert, pool := testenv.SelfSigned(t)
	sink := newRecordSink()
	cfg := authConfig(t)
	cfg.TLSListen = "127.0.0.1:0"
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	b, _ := startBroker(t, cfg, sink)
	o := clientOpts("tls://"+b.Addrs().TLS, "tls-dev", "alice", "alice-secret").
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	c := mustConnect(t, o)
	if err := wait(t, c.Publish("city/alice/tls", 1, false, "1")); err != nil {
		t.Fatal(err)
	}
	if ts := sink.topics(); len(ts) != 1 || ts[0] != "city/alice/tls" {
		t.Fatalf("ingested %v", ts)
	}
	// A client that does not trust the certificate cannot connect; plain MQTT on the TLS port fails too.
	if _, err := connect(t, clientOpts("tls://"+b.Addrs().TLS, "untrusting", "alice", "alice-secret").
		SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})); err == nil {
		t.Error("connected without trusting the certificate")
	}
}

func TestMaxMessageBytes(t *testing.T) {
	sink := newRecordSink()
	b, _ := startBroker(t, Config{AllowAnonymous: true, MaxMessageBytes: 1024}, sink)
	lost := make(chan error, 1)
	c := mustConnect(t, clientOpts("tcp://"+b.Addrs().TCP, "big", "", "").
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	_ = c.Publish("city/big", 1, false, bytes.Repeat([]byte("x"), 2000)).WaitTimeout(15 * time.Second)
	select {
	case <-lost:
	case <-time.After(15 * time.Second):
		t.Fatal("oversized packet did not end the connection")
	}
	if n := len(sink.messages()); n != 0 {
		t.Errorf("oversized message ingested")
	}
}

func TestStartBindErrorNamesAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	b, err := New(Config{Listen: "127.0.0.1:0", WebSocketListen: busy.Addr().String(), AllowAnonymous: true},
		Deps{Sink: newRecordSink()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Start()
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) || !strings.Contains(err.Error(), "ws") {
		t.Fatalf("Start err = %v, want the ws address %s named", err, busy.Addr())
	}
}

func TestCloseIdempotentAndLeakFree(t *testing.T) {
	// Brokers of earlier tests are closed; let their last goroutines (mochi's event loop) finish.
	eventually(t, "no broker goroutines before the test", func() bool { return brokerGoroutines() == "" })
	base := runtime.NumGoroutine()
	func() {
		sink := newRecordSink()
		b, err := New(Config{Listen: "127.0.0.1:0", WebSocketListen: "127.0.0.1:0", AllowAnonymous: true}, Deps{Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		// Only Close can end the connection that never sends CONNECT (below).
		b.connectTimeout = time.Hour
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		// One connected client, one connection that never sends CONNECT, one blocked in the sink.
		c := paho.NewClient(clientOpts("tcp://"+b.Addrs().TCP, "leak", "", ""))
		if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		if err := wait(t, c.Publish("city/x", 1, false, "1")); err != nil {
			t.Fatal(err)
		}
		raw, err := net.Dial("tcp", b.Addrs().TCP)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		eventually(t, "raw connection accepted", func() bool {
			return strings.Contains(brokerGoroutines(), "readConnectionPacket")
		})
		ws, err := net.Dial("tcp", b.Addrs().WebSocket) // not even upgraded
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		c.Disconnect(100)
		closed := make(chan struct{})
		go func() { b.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("Close hangs; goroutines:\n%s", brokerGoroutines())
		}
		// Close waits: no connection's work may outlive it, not even the one still waiting for CONNECT on
		// raw. A connection goroutine may still be returning (its deferred WaitGroup Done has run, which is
		// what Close waited for), so what must be gone at once is every goroutine inside a connection's work
		// (any frame below the goroutine's own function); the returning ones end on their own.
		// (mochi's own housekeeping loop stops asynchronously; the polls below cover it.)
		if g := connGoroutinesAtWork(); g != "" {
			t.Errorf("connection goroutines still running after Close:\n%s", g)
		}
		eventually(t, "connection goroutines to return", func() bool { return connGoroutines() == "" })
		b.Close()
		if err := b.Start(); !errors.Is(err, ErrClosed) {
			t.Errorf("Start after Close: %v", err)
		}
		if err := b.Publish("city/x", nil, false, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish after Close: %v", err)
		}
	}()
	eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= base })
	eventually(t, "no broker or mochi goroutine left", func() bool { return brokerGoroutines() == "" })
}

// connGoroutines returns the stacks of goroutines serving MQTT connections ("" when none).
func connGoroutines() string {
	var out []string
	for _, g := range strings.Split(brokerGoroutines(), "\n\n") {
		if strings.Contains(g, "attachClient") || strings.Contains(g, "ingest/broker.(*") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// connGoroutinesAtWork is connGoroutines without those only returning: a goroutine whose top frame is a
// listener's connection function at its closing line (its deferred calls done).
func connGoroutinesAtWork() string {
	var out []string
	for _, g := range strings.Split(connGoroutines(), "\n\n") {
		lines := strings.Split(g, "\n")
		if len(lines) >= 3 && strings.Contains(lines[1], "Listener).Serve.func") && returning(lines[2]) {
			continue
		}
		if g != "" {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// returning reports whether a stack frame's file:line is the closing line of its function ("}" or "}()").
func returning(frame string) bool {
	file, _, _ := strings.Cut(strings.TrimSpace(frame), " ")
	path, line, ok := strings.Cut(file[strings.LastIndex(file, "/")+1:], ":")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(line)
	if err != nil {
		return false
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	lines := strings.Split(string(src), "\n")
	if n < 1 || n > len(lines) {
		return false
	}
	l := strings.TrimSpace(lines[n-1])
	return l == "}" || l == "}()"
}

// brokerGoroutines returns the stacks of goroutines running broker or mochi code ("" when none).
func brokerGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/mochi-mqtt/server") || strings.Contains(g, "ingest/broker.(*") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

func TestCloseUnblocksSink(t *testing.T) {
	sink := &blockingSink{entered: make(chan ingestMessage, 1), release: make(chan error)}
	b, err := New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true}, Deps{Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	c := mustConnect(t, clientOpts("tcp://"+b.Addrs().TCP, "stuck", "", ""))
	tok := c.Publish("city/x", 1, false, "1")
	<-sink.entered
	b.Close() // must return although the sink blocks: its context is cancelled
	if err := wait(t, tok); err == nil {
		t.Error("publish acknowledged although the sink never stored it")
	}
	b.Close()
}

var newConfigErrors = []struct {
	name    string
	cfg     Config
	wantErr string
}{
	{"empty username", Config{Users: []User{{PasswordHash: "$2a$04$abcdefghijklmnopqrstuuJ4xUXbmjpZUWVEJ5H8b1Gdxg8wZ4i1C"}}}, "empty username"},
	{"wildcard username", Config{Users: []User{{Username: "a+b"}}}, `"+"`},
	{"bad hash", Config{Users: []User{{Username: "a", PasswordHash: "plaintext-password"}}}, "not a bcrypt hash"},
	{"bad filter", Config{Users: []User{{Username: "a", Publish: []string{"city/#/x"}}}}, "publish[0]"},
	{"tls without cert", Config{TLSListen: "127.0.0.1:0"}, "needs a TLS config"},
	{"negative size", Config{MaxMessageBytes: -1}, "max_message_bytes"},
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := hashOf(t, "pw")
	for _, tc := range newConfigErrors {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			for i := range cfg.Users {
				if cfg.Users[i].PasswordHash == "" {
					cfg.Users[i].PasswordHash = good
				}
			}
			_, err := New(cfg, Deps{Sink: newRecordSink()})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "plaintext-password") || strings.Contains(err.Error(), good) {
				t.Errorf("error leaks the hash/password: %v", err)
			}
		})
	}
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Error("New without Sink succeeded")
	}
	dup := []User{{Username: "a", PasswordHash: good}, {Username: "a", PasswordHash: good}}
	if _, err := New(Config{Users: dup}, Deps{Sink: newRecordSink()}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate users: %v", err)
	}
}
