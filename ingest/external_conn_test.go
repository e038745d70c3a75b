package ingest

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
)

// countingConn counts the reads and writes made on a connection: the system calls the source costs.
type countingConn struct {
	net.Conn
	reads, writes *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
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
func startCountedExternal(t *testing.T, cfg ExternalConfig, h Handler) (e *External, reads, writes *atomic.Int64) {
	t.Helper()
	reads, writes = new(atomic.Int64), new(atomic.Int64)
	e, err := NewExternal(cfg, h, ExternalDeps{Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	e.wrapConn = func(c net.Conn) net.Conn { return countingConn{Conn: c, reads: reads, writes: writes} }
	require.NoError(t, e.Start())
	t.Cleanup(e.Close)
	require.Eventually(t, e.Connected, 10*time.Second, 10*time.Millisecond, "connected: %+v", e.Status())
	return e, reads, writes
}

// TestExternalReadsInBursts: messages that arrived together are read from the connection together. paho read
// every packet from the socket itself (a read for the first byte, one per length byte, one for the rest):
// three system calls per message, the largest single cost of external QoS 0 ingest.
func TestExternalReadsInBursts(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	h := &gatedHandler{open: make(chan struct{})}
	cfg := testExternalConfig(mosq.URL, "t-reads", "city/#")
	cfg.QoS, cfg.MaxInflight, cfg.Workers = 0, 4, 1
	_, reads, _ := startCountedExternal(t, cfg, h)
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
