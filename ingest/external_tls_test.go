package ingest

import (
	"crypto/tls"
	"net"
	"net/url"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
)

// TestExternalDialsTLSAndVerifies: the source dials ssl:// (and its aliases) itself since it reads through a
// buffer, so it must verify the broker as paho did: a broker whose certificate the source's TLS config trusts
// is reached; one it does not trust, or whose name does not match, is refused.
func TestExternalDialsTLSAndVerifies(t *testing.T) {
	cert, pool := testenv.SelfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("hello"))
			}()
		}
	}()
	o := paho.NewClientOptions()
	o.Dialer = &net.Dialer{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name   string
		scheme string
		tls    *tls.Config
		ok     bool
	}{
		{"trusted", "ssl", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, true},
		{"trusted mqtts", "mqtts", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, true},
		{"untrusted (system roots)", "ssl", nil, false},
		{"wrong name", "tls", &tls.Config{RootCAs: pool, ServerName: "broker.example", MinVersion: tls.VersionTLS12}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial := openConnection(o, tc.tls, nil, nil)
			require.NotNil(t, dial)
			c, err := dial(&url.URL{Scheme: tc.scheme, Host: ln.Addr().String()}, *o)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			defer c.Close()
			buf := make([]byte, 5)
			_, err = c.Read(buf)
			require.NoError(t, err)
			require.Equal(t, "hello", string(buf))
		})
	}
}
