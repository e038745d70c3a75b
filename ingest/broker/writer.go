package broker

import (
	"errors"
	"net"
	"sync"
	"time"
)

// maxClientWriteBuffer bounds the bytes written to one client and not yet sent. A client that leaves more than
// this unread is disconnected (counted in citywatch_broker_slow_clients_disconnected_total): it is not reading
// what it asked for, and the broker does not hold unbounded memory for it.
const maxClientWriteBuffer = 1 << 20

// clientWriteTimeout bounds one write to a client's socket; a client that accepts nothing for this long is
// disconnected.
const clientWriteTimeout = 30 * time.Second

// errSlowClient is returned by bufferedConn.Write once the client was disconnected for not reading.
var errSlowClient = errors.New("broker: client does not read what is sent to it; disconnected")

// bufferedConn is the connection mochi writes to. Write only appends to a buffer and returns; a goroutine of the
// connection (started when there is something to send, ended when the buffer is empty) sends what accumulated
// with one write.
//
// Why: with batched commits, the ingest pipeline's commit goroutine acknowledges the QoS 1/2 messages of a batch
// (mochi writes each PUBACK directly to the socket when its outbound queue is empty). Through this buffer the
// acknowledgements of a burst share syscalls (the issue measured one syscall per PUBACK at 18 % of CPU), and a
// publisher that does not read its socket can never block the commit goroutine, which a direct write could.
type bufferedConn struct {
	net.Conn
	onSlow func() // counts a disconnection for not reading

	mu      sync.Mutex
	buf     []byte
	spare   []byte
	sending bool          // the send goroutine runs
	idle    chan struct{} // closed when the send goroutine ends
	err     error
	writes  func() // counts one socket write (nil: not counted)
}

func newBufferedConn(c net.Conn, m *metrics) *bufferedConn {
	bc := &bufferedConn{Conn: c}
	if m != nil {
		bc.onSlow, bc.writes = m.slowClients.Inc, m.clientWrites.Inc
	}
	return bc
}

// Write queues p for sending. It fails once the connection failed or the client fell too far behind.
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if len(c.buf)+len(p) > maxClientWriteBuffer {
		c.err = errSlowClient
		c.mu.Unlock()
		if c.onSlow != nil {
			c.onSlow()
		}
		_ = c.Conn.Close() // the read loop fails and mochi disconnects the client as for a network error
		return 0, errSlowClient
	}
	c.buf = append(c.buf, p...)
	start := !c.sending
	if start {
		c.sending, c.idle = true, make(chan struct{})
	}
	c.mu.Unlock()
	if start {
		go c.send()
	}
	return len(p), nil
}

// closeFlushTimeout bounds how long Close waits for what was written (a refusing CONNACK, a DISCONNECT) to be
// sent.
const closeFlushTimeout = 2 * time.Second

// Close sends what was written, waiting at most closeFlushTimeout, and closes the connection.
func (c *bufferedConn) Close() error {
	c.mu.Lock()
	sending, idle := c.sending, c.idle
	c.mu.Unlock()
	if sending {
		t := time.NewTimer(closeFlushTimeout)
		select {
		case <-idle:
		case <-t.C:
		}
		t.Stop()
	}
	return c.Conn.Close()
}

// send writes what accumulated until the buffer is empty.
func (c *bufferedConn) send() {
	for {
		c.mu.Lock()
		if len(c.buf) == 0 || c.err != nil {
			c.sending = false
			close(c.idle)
			c.mu.Unlock()
			return
		}
		out := c.buf
		c.buf, c.spare = c.spare[:0], nil
		c.mu.Unlock()

		_ = c.Conn.SetWriteDeadline(time.Now().Add(clientWriteTimeout))
		_, err := c.Conn.Write(out)
		if c.writes != nil {
			c.writes()
		}
		c.mu.Lock()
		if cap(out) <= 64<<10 {
			c.spare = out[:0] // reuse a buffer of ordinary size; let a burst's large one go
		}
		if err != nil && c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
		if err != nil {
			_ = c.Conn.Close()
		}
	}
}
