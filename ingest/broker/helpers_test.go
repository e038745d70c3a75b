package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"citywatch/ingest"
)

// recordSink keeps copies of the messages it is handed (the broker's payload may not be retained) and
// returns err when set.
type recordSink struct {
	mu   sync.Mutex
	msgs []ingest.Message
	err  error
	got  chan struct{} // signalled (non-blocking) on every message
}

func newRecordSink() *recordSink { return &recordSink{got: make(chan struct{}, 1)} }

func (s *recordSink) Handle(_ context.Context, m ingest.Message) error {
	m.Payload = append([]byte(nil), m.Payload...)
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	err := s.err
	s.mu.Unlock()
	select {
	case s.got <- struct{}{}:
	default:
	}
	return err
}

func (s *recordSink) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *recordSink) messages() []ingest.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ingest.Message(nil), s.msgs...)
}

func (s *recordSink) topics() []string {
	var ts []string
	for _, m := range s.messages() {
		ts = append(ts, m.Topic)
	}
	return ts
}

// countSink counts messages; for benchmarks.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Handle(context.Context, ingest.Message) error { s.n.Add(1); return nil }

// blockingSink hands each message to the test and blocks until the test releases it.
type blockingSink struct {
	entered chan ingest.Message
	release chan error
}

func (s *blockingSink) Handle(ctx context.Context, m ingest.Message) error {
	s.entered <- m
	select {
	case err := <-s.release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errStore = errors.New("store unavailable (test)")

// testLogger logs to the test output when BROKER_TEST_LOG is set, else discards.
func testLogger() *slog.Logger {
	if os.Getenv("BROKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker starts a broker on free loopback ports and closes it at the end of the test.
func startBroker(t testing.TB, cfg Config, sink Sink) (*Broker, *prometheus.Registry) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	reg := prometheus.NewRegistry()
	b, err := New(cfg, Deps{Sink: sink, Logger: testLogger(), Registerer: reg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(b.Close)
	return b, reg
}

var hashCache sync.Map

// hashOf returns a cheap (MinCost) bcrypt hash of password.
func hashOf(t testing.TB, password string) string {
	t.Helper()
	if h, ok := hashCache.Load(password); ok {
		return h.(string)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashCache.Store(password, string(h))
	return string(h)
}

// clientOpts are paho options for a 3.1.1 client that neither retries nor reconnects, so tests see failures.
func clientOpts(url, id, user, password string) *paho.ClientOptions {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(password).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(true).
		SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second).SetOrderMatters(false)
	return o
}

// connect connects a paho client and disconnects it at the end of the test.
func connect(t testing.TB, o *paho.ClientOptions) (paho.Client, error) {
	t.Helper()
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func mustConnect(t testing.TB, o *paho.ClientOptions) paho.Client {
	t.Helper()
	c, err := connect(t, o)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return c
}

func wait(t testing.TB, tok paho.Token) error {
	t.Helper()
	if !tok.WaitTimeout(15 * time.Second) {
		t.Fatalf("token timed out")
	}
	return tok.Error()
}

// eventually polls cond until it holds, failing the test after 15s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func counter(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

type (
	ingestMessage = ingest.Message
	mqttClient    = mochi.Client
)

// authHook returns the broker's auth hook for white-box checks.
func (b *Broker) authHook() *authHook { return b.auth }

// The ingest pipeline is the Sink the app wires in.
var _ Sink = (*ingest.Pipeline)(nil)

// sinkModes run a test against the synchronous path of the ingest hook and the asynchronous one (AsyncSink,
// what the ingest pipeline is).
var sinkModes = []struct {
	name string
	wrap func(testing.TB, Sink) Sink
}{
	{"sync", func(_ testing.TB, s Sink) Sink { return syncSink{s} }},
	{"async", newAsyncSink},
	{"async-message", newAsyncMessageSink},
}

// asyncMessageSink is an asyncSink that also gives the message back to its completion (asyncMessageSink, what
// the pipeline is), counting the messages handed to it that way.
type asyncMessageSinkT struct {
	*asyncSink
	viaMessage atomic.Int64
}

func newAsyncMessageSink(t testing.TB, s Sink) Sink {
	return &asyncMessageSinkT{asyncSink: newAsyncSink(t, s).(*asyncSink)}
}

func (a *asyncMessageSinkT) HandleAsyncMessage(ctx context.Context, m ingest.Message, done func(ingest.Message, error)) {
	a.viaMessage.Add(1)
	m.Payload = append([]byte(nil), m.Payload...)
	a.q <- func() { done(m, a.s.Handle(ctx, m)) }
}

// syncSink hides whether a Sink is an AsyncSink.
type syncSink struct{ s Sink }

func (s syncSink) Handle(ctx context.Context, m ingest.Message) error { return s.s.Handle(ctx, m) }

// asyncSink makes any Sink an AsyncSink: one goroutine handles the queued messages in order and completes
// them, like the pipeline's commit goroutine. It ends with the test (after the broker closed).
type asyncSink struct {
	s Sink
	q chan func()
}

func newAsyncSink(t testing.TB, s Sink) Sink {
	a := &asyncSink{s: s, q: make(chan func(), 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range a.q {
			f()
		}
	}()
	t.Cleanup(func() { close(a.q); <-done })
	return a
}

func (a *asyncSink) Handle(ctx context.Context, m ingest.Message) error { return a.s.Handle(ctx, m) }

func (a *asyncSink) HandleAsync(ctx context.Context, m ingest.Message, done func(error)) {
	m.Payload = append([]byte(nil), m.Payload...)
	a.q <- func() { done(a.s.Handle(ctx, m)) }
}
