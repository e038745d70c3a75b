package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
)

// recorder is a Handler that records the messages it handled; fail, when set, decides a store failure.
type recorder struct {
	mu       sync.Mutex
	msgs     []Message
	attempts map[string]int
	fail     func(m Message) error
}

func (r *recorder) Handle(_ context.Context, m Message) error {
	m.Payload = bytes.Clone(m.Payload)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attempts == nil {
		r.attempts = map[string]int{}
	}
	r.attempts[string(m.Payload)]++
	if r.fail != nil {
		if err := r.fail(m); err != nil {
			return err
		}
	}
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) handled() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

func (r *recorder) payloads() map[string]int {
	out := map[string]int{}
	for _, m := range r.handled() {
		out[string(m.Payload)]++
	}
	return out
}

func (r *recorder) attemptsOf(p string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[p]
}

// testExternalConfig returns a config with short backoffs for tests.
func testExternalConfig(url, clientID string, topics ...string) ExternalConfig {
	return ExternalConfig{Name: "ext", URL: url, ClientID: clientID, Topics: topics, QoS: 1,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, ConnectTimeout: 5 * time.Second,
		StoreRetryMin: 10 * time.Millisecond, StoreRetryMax: 20 * time.Millisecond, StoreRetryFor: 100 * time.Millisecond}
}

func startExternal(t *testing.T, cfg ExternalConfig, h Handler, reg prometheus.Registerer) *External {
	t.Helper()
	e, err := NewExternal(cfg, h, ExternalDeps{Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, e.Start())
	t.Cleanup(e.Close)
	require.Eventually(t, e.Connected, 10*time.Second, 10*time.Millisecond, "connected: %+v", e.Status())
	return e
}

// publisher returns a connected MQTT client that publishes with QoS 1 and waits for the broker's PUBACK.
func publisher(t *testing.T, url string) func(topic, payload string) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(false)
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "publisher connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return func(topic, payload string) {
		t.Helper()
		tok := c.Publish(topic, 1, false, payload)
		require.True(t, tok.WaitTimeout(10*time.Second), "publish timed out")
		require.NoError(t, tok.Error())
	}
}

func TestExternalReceivesInTopicOrder(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	reg := prometheus.NewRegistry()
	h := &recorder{}
	e := startExternal(t, testExternalConfig(mosq.URL, "t-receive", "city/#"), h, reg)
	v, _ := metricValue(t, reg, "citywatch_ingest_source_connected", "source", "ext")
	assert.Equal(t, 1.0, v)

	pub := publisher(t, mosq.URL)
	const n = 200
	for i := range n {
		pub(fmt.Sprintf("city/d/s/dev%d", i%5), strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return len(h.handled()) >= n }, 20*time.Second, 10*time.Millisecond)
	last := map[string]int{}
	for _, m := range h.handled() {
		assert.Equal(t, "ext", m.Source)
		assert.False(t, m.Received.IsZero())
		i, err := strconv.Atoi(string(m.Payload))
		require.NoError(t, err)
		if prev, ok := last[m.Topic]; ok {
			assert.Greater(t, i, prev, "messages of topic %s handled in order", m.Topic)
		}
		last[m.Topic] = i
	}
	assert.Len(t, h.payloads(), n)

	e.Close()
	e.Close()
	assert.False(t, e.Connected())
	_, ok := metricValue(t, reg, "citywatch_ingest_source_connected", "source", "ext")
	assert.False(t, ok, "Close unregisters the metrics")
	require.Error(t, e.Start(), "a closed source cannot start")
}

// TestExternalAcksOnlyAfterHandle shows that a message whose store failed is not acknowledged (the broker
// delivers it again after the source disconnected) and that a handled message is acknowledged (a new session
// under the same client id does not get it again).
func TestExternalAcksOnlyAfterHandle(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	reg := prometheus.NewRegistry()
	var storeDown atomic.Bool
	storeDown.Store(true)
	h := &recorder{fail: func(m Message) error {
		if string(m.Payload) == "m1" && storeDown.Load() {
			return errors.New("store down")
		}
		return nil
	}}
	cfg := testExternalConfig(mosq.URL, "t-ack", "ack/#")
	e := startExternal(t, cfg, h, reg)
	pub := publisher(t, mosq.URL)
	pub("ack/a", "m1")

	// The source retries, gives up, disconnects and gets m1 again from the broker after reconnecting.
	require.Eventually(t, func() bool {
		v, _ := metricValue(t, reg, "citywatch_ingest_source_reconnects_total", "source", "ext")
		return v >= 2 && h.attemptsOf("m1") >= 6
	}, 20*time.Second, 10*time.Millisecond)
	st := e.Status()
	assert.True(t, st.StoreFailing)
	assert.Contains(t, st.LastError, "store down")
	assert.Empty(t, h.handled())
	unacked, _ := metricValue(t, reg, "citywatch_ingest_source_unacked_total", "source", "ext")
	assert.GreaterOrEqual(t, unacked, 1.0)

	storeDown.Store(false)
	require.Eventually(t, func() bool { return h.payloads()["m1"] == 1 }, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return !e.Status().StoreFailing }, 5*time.Second, 10*time.Millisecond)
	e.Close()

	// m1 was acknowledged: the persistent session does not hold it any more.
	h2 := &recorder{}
	startExternal(t, cfg, h2, prometheus.NewRegistry())
	pub("ack/a", "m2")
	require.Eventually(t, func() bool { return h2.payloads()["m2"] == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, map[string]int{"m2": 1}, h2.payloads())
}

// TestExternalStoreRetryKeepsOrder checks that a transient store failure is retried on the same connection and
// the messages of a topic are still stored in order.
func TestExternalStoreRetryKeepsOrder(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	var failures atomic.Int32
	failures.Store(3)
	h := &recorder{fail: func(m Message) error {
		if string(m.Payload) == "5" && failures.Add(-1) >= 0 {
			return errors.New("wal busy")
		}
		return nil
	}}
	cfg := testExternalConfig(mosq.URL, "t-order", "order/#")
	cfg.StoreRetryFor = time.Minute
	reg := prometheus.NewRegistry()
	startExternal(t, cfg, h, reg)
	pub := publisher(t, mosq.URL)
	for i := range 20 {
		pub("order/x", strconv.Itoa(i))
	}
	require.Eventually(t, func() bool { return len(h.handled()) >= 20 }, 20*time.Second, 10*time.Millisecond)
	for i, m := range h.handled() {
		assert.Equal(t, strconv.Itoa(i), string(m.Payload))
	}
	retries, _ := metricValue(t, reg, "citywatch_ingest_source_handle_retries_total", "source", "ext")
	assert.Equal(t, 3.0, retries)
	reconnects, _ := metricValue(t, reg, "citywatch_ingest_source_reconnects_total", "source", "ext")
	assert.Zero(t, reconnects)
}

func TestExternalOfflineSessionAndBrokerRestart(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	cfg := testExternalConfig(mosq.URL, "t-session", "sess/#")
	first := startExternal(t, cfg, &recorder{}, nil)
	first.Close()

	// Published while the collector is down: the broker queues them in the persistent session.
	pub := publisher(t, mosq.URL)
	for i := range 50 {
		pub("sess/a", strconv.Itoa(i))
	}
	h := &recorder{}
	reg := prometheus.NewRegistry()
	e := startExternal(t, cfg, h, reg)
	require.Eventually(t, func() bool { return len(h.payloads()) == 50 }, 20*time.Second, 10*time.Millisecond)

	mosq.Stop()
	require.Eventually(t, func() bool { return !e.Connected() }, 20*time.Second, 10*time.Millisecond)
	assert.NotEmpty(t, e.Status().LastError)
	v, _ := metricValue(t, reg, "citywatch_ingest_source_connected", "source", "ext")
	assert.Zero(t, v)
	mosq.Start()
	require.Eventually(t, e.Connected, 20*time.Second, 10*time.Millisecond)
	reconnects, _ := metricValue(t, reg, "citywatch_ingest_source_reconnects_total", "source", "ext")
	assert.GreaterOrEqual(t, reconnects, 1.0)
	assert.GreaterOrEqual(t, e.Status().Reconnects, uint64(1))

	pub2 := publisher(t, mosq.URL)
	pub2("sess/a", "after-restart")
	require.Eventually(t, func() bool { return h.payloads()["after-restart"] == 1 }, 20*time.Second, 10*time.Millisecond)
}

func TestExternalSharedSubscriptionSplits(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	h1, h2 := &recorder{}, &recorder{}
	cfg1 := testExternalConfig(mosq.URL, "t-shared-1", "shared/#")
	cfg1.SharedGroup = "collectors"
	cfg2 := cfg1
	cfg2.ClientID = "t-shared-2"
	startExternal(t, cfg1, h1, nil)
	startExternal(t, cfg2, h2, nil)

	pub := publisher(t, mosq.URL)
	const n = 200
	for i := range n {
		pub(fmt.Sprintf("shared/dev%d", i%7), strconv.Itoa(i))
	}
	union := func() map[string]int {
		u := h1.payloads()
		for p, c := range h2.payloads() {
			u[p] += c
		}
		return u
	}
	require.Eventually(t, func() bool { return len(union()) == n }, 20*time.Second, 10*time.Millisecond)
	n1, n2 := len(h1.handled()), len(h2.handled())
	assert.Positive(t, n1, "first collector got a share")
	assert.Positive(t, n2, "second collector got a share")
	assert.Equal(t, n, n1+n2, "each message went to one collector")
}

var badExternalConfigs = []struct {
	name string
	cfg  ExternalConfig
	want string
}{
	{"no name", ExternalConfig{URL: "tcp://h:1883", Topics: []string{"a"}}, "needs a name"},
	{"no topics", ExternalConfig{Name: "x", URL: "tcp://h:1883"}, "at least one topic"},
	{"no url", ExternalConfig{Name: "x", Topics: []string{"a"}}, "url is required"},
	{"bad scheme", ExternalConfig{Name: "x", URL: "http://h", Topics: []string{"a"}}, `url scheme "http"`},
	{"no host", ExternalConfig{Name: "x", URL: "tcp://", Topics: []string{"a"}}, "no host"},
	{"bad port hides password", ExternalConfig{Name: "x", URL: "tcp://u:s3cret@h:port", Topics: []string{"a"}}, "invalid url"},
	{"hash not last", ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{"a/#/b"}}, "'#' must be the whole last level"},
	{"plus in level", ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{"a/b+"}}, "'+' must be a whole level"},
	{"empty filter", ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{""}}, "empty topic filter"},
	{"share in filter", ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{"$share/g/a"}}, "shared_group"},
	{"qos", ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{"a"}, QoS: 3}, "qos must be 0, 1 or 2"},
	{"shared group", ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{"a"}, SharedGroup: "a/b"}, "shared group"},
	{"negative", ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{"a"}, KeepAlive: -1}, "keep_alive must be >= 0"},
	{"backoff order", ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{"a"}, ReconnectMin: time.Minute, ReconnectMax: time.Second}, "reconnect_max"},
}

func TestNewExternalRejectsBadConfig(t *testing.T) {
	for _, tc := range badExternalConfigs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewExternal(tc.cfg, &recorder{}, ExternalDeps{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
	_, err := NewExternal(ExternalConfig{Name: "x", URL: "tcp://h:1883", Topics: []string{"a"}}, nil, ExternalDeps{})
	assert.ErrorContains(t, err, "Handler")
}

func TestExternalDefaults(t *testing.T) {
	e, err := NewExternal(ExternalConfig{Name: "x", URL: "tcp://user:pw@h:1883", Topics: []string{"a/+", "b/#"},
		SharedGroup: "g"}, &recorder{}, ExternalDeps{})
	require.NoError(t, err)
	assert.Equal(t, "tcp://h:1883", e.broker)
	assert.Equal(t, "user", e.username)
	assert.Equal(t, "pw", e.password)
	assert.Empty(t, e.cfg.Password)
	assert.Equal(t, map[string]byte{"$share/g/a/+": 0, "$share/g/b/#": 0}, e.filters)
	assert.Regexp(t, `^citywatch-x-.+`, e.cfg.ClientID)
	assert.Equal(t, 256, e.cfg.MaxInflight)
	assert.Len(t, e.queues, 16)
	assert.Equal(t, 15, cap(e.queues[0]))
	e.Close() // never started
}

// TestExternalNeverShowsPassword connects to a port where nothing listens and checks that neither the log nor
// the status show the password or the URL's userinfo.
func TestExternalNeverShowsPassword(t *testing.T) {
	addr := testenv.FreePort(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := testExternalConfig("tcp://urluser:url-s3cret@"+addr, "t-secret", "a/#")
	cfg.Password = "field-s3cret"
	e, err := NewExternal(cfg, &recorder{}, ExternalDeps{Logger: logger})
	require.NoError(t, err)
	require.NoError(t, e.Start())
	require.Eventually(t, func() bool { return e.Status().LastError != "" }, 10*time.Second, 10*time.Millisecond)
	e.Close()
	st, err := json.Marshal(e.Status())
	require.NoError(t, err)
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	for _, secret := range []string{"url-s3cret", "field-s3cret", "urluser"} {
		assert.NotContains(t, logs, secret)
		assert.NotContains(t, string(st), secret)
	}
	assert.Contains(t, logs, "broker connection down")
	assert.Contains(t, string(st), "tcp://"+addr)
}

// TestExternalCloseDrainsAndAcks checks that Close lets a message being handled finish and acknowledges it
// before disconnecting, so the next session does not get it again.
func TestExternalCloseDrainsAndAcks(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h := &recorder{fail: func(m Message) error {
		if string(m.Payload) == "slow" {
			once.Do(func() {
				close(entered)
				<-release
			})
		}
		return nil
	}}
	cfg := testExternalConfig(mosq.URL, "t-drain", "drain/#")
	e := startExternal(t, cfg, h, nil)
	pub := publisher(t, mosq.URL)
	pub("drain/a", "slow")
	<-entered
	closed := make(chan struct{})
	go func() {
		e.Close()
		close(closed)
	}()
	require.Eventually(t, e.isStopping, 10*time.Second, time.Millisecond)
	close(release)
	<-closed
	assert.Equal(t, map[string]int{"slow": 1}, h.payloads())

	h2 := &recorder{}
	startExternal(t, cfg, h2, nil)
	pub("drain/a", "marker")
	require.Eventually(t, func() bool { return h2.payloads()["marker"] == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, map[string]int{"marker": 1}, h2.payloads(), "the drained message was acknowledged")
}

// TestExternalQoS0StoreFailureIsCounted checks that a QoS 0 message that cannot be stored is dropped and
// counted (the broker cannot deliver it again), without dropping the connection.
func TestExternalQoS0StoreFailureIsCounted(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	h := &recorder{fail: func(Message) error { return errors.New("disk full") }}
	cfg := testExternalConfig(mosq.URL, "t-qos0", "q0/#")
	cfg.QoS = 0
	reg := prometheus.NewRegistry()
	e := startExternal(t, cfg, h, reg)
	pub := publisher(t, mosq.URL)
	pub("q0/a", "x")
	require.Eventually(t, func() bool {
		v, _ := metricValue(t, reg, "citywatch_ingest_source_dropped_total", "source", "ext")
		return v == 1
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, uint64(1), e.Status().Dropped)
	assert.GreaterOrEqual(t, h.attemptsOf("x"), 2, "retried before dropping")
	assert.True(t, e.Connected())
	reconnects, _ := metricValue(t, reg, "citywatch_ingest_source_reconnects_total", "source", "ext")
	assert.Zero(t, reconnects)
}

// FuzzNewExternal feeds URLs and topic filters to NewExternal: it must not panic, and an error must never
// contain the URL's password.
func FuzzNewExternal(f *testing.F) {
	for _, tc := range badExternalConfigs {
		topic := ""
		if len(tc.cfg.Topics) > 0 {
			topic = tc.cfg.Topics[0]
		}
		f.Add(tc.cfg.URL, topic, tc.cfg.SharedGroup)
	}
	f.Add("tcp://user:pw@127.0.0.1:1883", "city/+/+/#", "g")
	f.Fuzz(func(t *testing.T, url, topic, group string) {
		e, err := NewExternal(ExternalConfig{Name: "f", URL: url, Topics: []string{topic}, SharedGroup: group},
			&recorder{}, ExternalDeps{})
		if err != nil {
			if u, perr := neturl.Parse(url); perr == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Contains(err.Error(), pw) {
					t.Fatalf("error %q shows the password", err)
				}
			}
			return
		}
		if strings.Contains(e.broker, "@") && e.password != "" && strings.Contains(e.broker, e.password) {
			t.Fatalf("broker URL %q keeps the password", e.broker)
		}
		e.Close()
	})
}
