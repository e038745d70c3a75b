package ingest

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

const (
	// readBufferBytes is the read buffer of an external source's connection.
	readBufferBytes = 64 << 10
	// maxPendingWrite bounds the bytes written and not yet sent: beyond it a writer waits.
	maxPendingWrite = 64 << 10
	// closeFlushTimeout bounds how long Close waits for pending bytes (the last acknowledgements, DISCONNECT).
	closeFlushTimeout = 2 * time.Second
)

// paho reads every packet straight from the connection: one read for the fixed header byte, one per byte of
// the remaining length and one for the rest, so three system calls per small message, which was the largest
// single cost of external ingest (17 % of the process's CPU at QoS 0, more than mapping). It writes every
// packet with its own system call too: one per QoS 1 acknowledgement. The source dials tcp:// and ssl://
// brokers itself and gives paho a bufferedConn: a burst of messages costs one read, and the acknowledgements
// of a batch (the pipeline acknowledges a whole commit at once) share writes.

// bufferedConn is a net.Conn whose reads go through a buffer and whose writes are coalesced (group commit, as
// the pipeline's commits): Write queues the bytes and returns; one flushing goroutine at a time, started by
// the first Write while none runs and ending once nothing is pending, sends what queued up while its previous
// write was under way, in order, with one write. Write returns the first error a flush met, so paho sees a
// failed connection as before (an acknowledgement that was queued but not sent is lost with the connection:
// the broker delivers its message again, as after any disconnection). Deadlines are the connection's own;
// Close sends what is pending (at most closeFlushTimeout) and closes.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu       sync.Mutex
	cond     sync.Cond // signalled when a flush ends a write
	pend     []byte    // written, not yet sent
	spare    []byte    // the previous flush's buffer, reused
	flushing bool      // a flushing goroutine runs
	err      error     // the first write error (sticky)
	closed   bool
}

func newBufferedConn(c net.Conn) *bufferedConn {
	b := &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufferBytes)}
	b.cond.L = &b.mu
	return b
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p for the flushing goroutine. It waits while maxPendingWrite bytes are pending.
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closed && len(c.pend) >= maxPendingWrite {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	c.pend = append(c.pend, p...)
	if !c.flushing {
		c.flushing = true
		go c.flush()
	}
	return len(p), nil
}

// flush sends what is pending until nothing is, or a write fails.
func (c *bufferedConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.pend) > 0 && c.err == nil {
		b := c.pend
		c.pend, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		_, err := c.Conn.Write(b)
		c.mu.Lock()
		if cap(b) <= maxPendingWrite {
			c.spare = b
		}
		if err != nil {
			c.err = err
		}
		c.cond.Broadcast()
	}
	c.flushing = false
	c.cond.Broadcast()
}

// puback queues the PUBACK of the QoS 1 message id (MQTT 3.1.1 §3.4.1: type 4 with no flags, remaining length
// 2, then the packet identifier). It is what paho's Message.Ack sends, without paho's two goroutine hand-offs
// and three allocations per acknowledgement, which ran on the pipeline's commit goroutine for every message of
// every batch. An error means the connection failed: the broker delivers the message again.
func (c *bufferedConn) puback(id uint16) error {
	p := [4]byte{0x40, 2, byte(id >> 8), byte(id)}
	_, err := c.Write(p[:])
	return err
}

// Close waits, at most closeFlushTimeout, for the pending bytes to be sent, and closes the connection. A
// second call returns the connection's own error for a second close.
func (c *bufferedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	if c.flushing {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	}
	for c.flushing {
		c.cond.Wait()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// openConnection is paho's CustomOpenConnectionFn for the source: it dials tcp/mqtt and ssl/tls/mqtts/tcps
// brokers as paho does (dialer with the connect timeout; TLS with the source's config) and wraps the
// connection in a bufferedConn. wrap, when set (tests), wraps the raw connection first. It returns nil for
// what paho must dial itself: websockets, and any broker while a proxy is configured in the environment (paho
// honours all_proxy). opened, when set, is given each bufferedConn.
func openConnection(o *paho.ClientOptions, tlsc *tls.Config, wrap func(net.Conn) net.Conn, opened func(*bufferedConn)) paho.OpenConnectionFunc {
	if os.Getenv("all_proxy") != "" || os.Getenv("ALL_PROXY") != "" {
		return nil
	}
	return func(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		var c net.Conn
		var err error
		switch uri.Scheme {
		case "tcp", "mqtt":
			c, err = o.Dialer.Dial("tcp", uri.Host)
		case "ssl", "tls", "mqtts", "tcps":
			c, err = tls.DialWithDialer(o.Dialer, "tcp", uri.Host, tlsc)
		default: // ws, wss: not given to this function (see clientOptions)
			return nil, &net.OpError{Op: "dial", Net: uri.Scheme, Err: net.UnknownNetworkError(uri.Scheme)}
		}
		if err != nil {
			return nil, err
		}
		if wrap != nil {
			c = wrap(c)
		}
		b := newBufferedConn(c)
		if opened != nil {
			opened(b)
		}
		return b, nil
	}
}

// nopStore is a paho Store that keeps nothing (see clientOptions).
type nopStore struct{}

func (nopStore) Open()                             {}
func (nopStore) Put(string, packets.ControlPacket) {}
func (nopStore) Get(string) packets.ControlPacket  { return nil }
func (nopStore) All() []string                     { return nil }
func (nopStore) Del(string)                        {}
func (nopStore) Close()                            {}
func (nopStore) Reset()                            {}
