package ingest

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/url"
	"os"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// readBufferBytes is the read buffer of an external source's connection.
const readBufferBytes = 64 << 10

// paho reads every packet straight from the connection: one read for the fixed header byte, one per byte of
// the remaining length and one for the rest, so three system calls per small message, which was the largest
// single cost of external ingest (17 % of the process's CPU at QoS 0, more than mapping). The source dials
// tcp:// and ssl:// brokers itself and gives paho a connection that reads through a buffer: a burst of
// messages costs one read.

// bufferedConn is a net.Conn whose reads go through a buffer. Writes, deadlines and Close are the
// connection's own.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func newBufferedConn(c net.Conn) *bufferedConn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufferBytes)}
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// openConnection is paho's CustomOpenConnectionFn for the source: it dials tcp/mqtt and ssl/tls/mqtts/tcps
// brokers as paho does (dialer with the connect timeout; TLS with the source's config) and wraps the
// connection in a bufferedConn. wrap, when set (tests), wraps the raw connection first. It returns nil for
// what paho must dial itself: websockets, and any broker while a proxy is configured in the environment (paho
// honours all_proxy).
func openConnection(o *paho.ClientOptions, tlsc *tls.Config, wrap func(net.Conn) net.Conn) paho.OpenConnectionFunc {
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
		return newBufferedConn(c), nil
	}
}
