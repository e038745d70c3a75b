package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
)

// connCounts are the reads and writes made on a connection (the system calls the source costs) and the bytes
// written. While hold is set, writes wait until it is closed.
type connCounts struct {
	reads, writes, written atomic.Int64
	hold                   atomic.Pointer[chan struct{}]
}

type countingConn struct {
	net.Conn
	n *connCounts
}

func (c countingConn) Read(p []byte) (int, error) {
	c.n.reads.Add(1)
	return c.Conn.Read(p)
}

func (c countingConn) Write(p []byte) (int, error) {
	c.n.writes.Add(1)
	if h := c.n.hold.Load(); h != nil {
		<-*h
	}
	n, err := c.Conn.Write(p)
	c.n.written.Add(int64(n))
	return n, err
}

// gatedHandler holds every message until open is closed, then counts it.
type gatedHandler struct {
	open    chan struct{}
	handled atomic.Int64
}

func (h *gatedHandler) Handle(ctx context.Context, _ Message) error {
	select {
	case <-h.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.handled.Add(1)
	return nil
}

// startCountedExternal starts a source whose broker connection counts its reads and writes.
func startCountedExternal(t *testing.T, cfg ExternalConfig, h Handler) (*External, *connCounts) {
	t.Helper()
	n := new(connCounts)
	e, err := NewExternal(cfg, h, ExternalDeps{Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	e.wrapConn = func(c net.Conn) net.Conn { return countingConn{Conn: c, n: n} }
	require.NoError(t, e.Start())
	t.Cleanup(e.Close)
	require.Eventually(t, e.Connected, 10*time.Second, 10*time.Millisecond, "connected: %+v", e.Status())
	return e, n
}

// TestExternalReadsInBursts: messages that arrived together are read from the connection together. paho read
// every packet from the socket itself (a read for the first byte, one per length byte, one for the rest):
// three system calls per message, the largest single cost of external QoS 0 ingest.
func TestExternalReadsInBursts(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	h := &gatedHandler{open: make(chan struct{})}
	cfg := testExternalConfig(mosq.URL, "t-reads", "city/#")
	cfg.QoS, cfg.MaxInflight, cfg.Workers = 0, 4, 1
	_, counts := startCountedExternal(t, cfg, h)
	reads := &counts.reads
	pub := publisher(t, mosq.URL)
	const n = 600
	for i := range n {
		pub(fmt.Sprintf("city/d1/s1/dev%d", i%10), `{"temperature":21.5}`)
	}
	before := reads.Load()
	close(h.open)
	require.Eventually(t, func() bool { return h.handled.Load() == n }, 20*time.Second, 5*time.Millisecond,
		"handled %d of %d", h.handled.Load(), n)
	got := reads.Load() - before
	require.LessOrEqual(t, got, int64(n/10), "reads for %d messages queued in the socket", n)
}

// TestExternalAcksShareWrites: the acknowledgements that are due while a write to the broker is under way are
// sent together by the next write. paho wrote every PUBACK with its own system call, so a commit of a
// thousand messages cost a thousand writes.
func TestExternalAcksShareWrites(t *testing.T) {
	mosq := testenv.Mosquitto(t, testenv.MosquittoMaxInflight(1000))
	h := &gatedHandler{open: make(chan struct{})}
	cfg := testExternalConfig(mosq.URL, "t-writes", "city/#")
	cfg.MaxInflight = 1000
	e, counts := startCountedExternal(t, cfg, h)
	pub := publisher(t, mosq.URL)
	const n = 300
	for i := range n {
		// One topic each: the workers' queues (by topic) hold them all while the handler holds them.
		pub(fmt.Sprintf("city/d1/s1/dev%d", i), `{"temperature":21.5}`)
	}
	require.Eventually(t, func() bool { return e.Status().Inflight == n }, 20*time.Second, 5*time.Millisecond,
		"received %d of %d", e.Status().Inflight, n)

	// Hold the first write (the broker is slow to take it) while every message is handled and acknowledged.
	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	writes, written := counts.writes.Load(), counts.written.Load()
	counts.hold.Store(&hold)
	close(h.open)
	acked := func() bool { return e.Status().Inflight == 0 }
	assert.Eventually(t, acked, 10*time.Second, 5*time.Millisecond,
		"messages acknowledged while the first write is held: %d left", e.Status().Inflight)
	release()
	require.Eventually(t, acked, 10*time.Second, 5*time.Millisecond)
	const pubackBytes = 4
	require.Eventually(t, func() bool { return counts.written.Load()-written == n*pubackBytes }, 10*time.Second,
		5*time.Millisecond, "PUBACK bytes sent: %d of %d", counts.written.Load()-written, n*pubackBytes)
	require.LessOrEqual(t, counts.writes.Load()-writes, int64(5), "writes for %d acknowledgements", n)
}

// connWraps are the two ways the benchmarks use a connection: straight to the socket ("raw", paho's own
// dialing) and through a bufferedConn.
var connWraps = []struct {
	name string
	wrap func(net.Conn) net.Conn
}{
	{"raw", func(c net.Conn) net.Conn { return c }},
	{"buffered", func(c net.Conn) net.Conn { return newBufferedConn(c) }},
}

// loopbackConn dials a loopback listener whose one connection serve handles, and returns the client side.
func loopbackConn(b *testing.B, serve func(net.Conn)) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	b.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(b, err)
	return c
}

// BenchmarkExternalConnRead reads small PUBLISH packets as paho does (packets.ReadPacket) from a loopback TCP
// connection, raw and buffered.
func BenchmarkExternalConnRead(b *testing.B) {
	pkt := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pkt.TopicName, pkt.Payload = "city/d1/s1/dev1", []byte(`{"temperature":21.5,"humidity":40,"co2":400,"pm25":3,"noise":40}`)
	var one bytes.Buffer
	require.NoError(b, pkt.Write(&one))
	burst := bytes.Repeat(one.Bytes(), 256)
	for _, tc := range connWraps {
		b.Run(tc.name, func(b *testing.B) {
			c := tc.wrap(loopbackConn(b, func(c net.Conn) {
				for sent := 0; sent < b.N; sent += 256 {
					if _, err := c.Write(burst); err != nil {
						return
					}
				}
			}))
			defer c.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := packets.ReadPacket(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExternalConnWrite writes PUBACKs as paho does (one Write each) to a loopback TCP connection, raw
// and buffered (coalesced).
func BenchmarkExternalConnWrite(b *testing.B) {
	ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	ack.MessageID = 7
	for _, tc := range connWraps {
		b.Run(tc.name, func(b *testing.B) {
			c := tc.wrap(loopbackConn(b, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := ack.Write(c); err != nil {
					b.Fatal(err)
				}
			}
			require.NoError(b, c.Close()) // sends what is pending
		})
	}
}
