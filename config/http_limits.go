package config

import "time"

// HTTPLimitsConfig bounds what clients can hold of the HTTP server: connections, slow requests, request bodies
// and live event streams, so no client, slow or many, can stop the server serving the others.
type HTTPLimitsConfig struct {
	// MaxConnections caps the open connections (idle keep-alives, event streams and WebSockets included). A
	// connection over the cap takes the place of the longest idle keep-alive; only when none is idle is it
	// closed as soon as it is accepted, and counted. It defaults to 1024.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerAddress caps the open connections of one client address (the TCP peer: behind a reverse
	// proxy, the proxy's; for IPv6 its /64, which one host may hold whole), so one client cannot take them all;
	// over it a new connection takes the place of that address's longest idle one, or is closed. At most
	// max_connections. It defaults to 64.
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
	// ReadHeaderTimeout bounds reading a request's headers. It defaults to 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// BodyReadTimeout bounds reading a request's body, counted from the end of its headers: a client sending
	// it slower is cut off. Event streams and WebSockets, which send no body, are not affected. It defaults
	// to 30s.
	BodyReadTimeout Duration `yaml:"body_read_timeout"`
	// IdleTimeout closes a keep-alive connection after this long without a request. It defaults to 2m.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxBodyBytes caps a request body; a larger one is answered 413. It defaults to 1MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxLoginBodyBytes caps the body of POST /api/login, which anyone may send; at most max_body_bytes (the
	// login handler never reads more than 16KiB either). It defaults to 16KiB.
	MaxLoginBodyBytes ByteSize `yaml:"max_login_body_bytes"`
	// MaxEventStreams caps the open live event streams (/api/events) in total; more are answered 429. It
	// defaults to 256.
	MaxEventStreams int `yaml:"max_event_streams"`
	// MaxEventStreamsPerPrincipal caps the open live event streams of one user or API token (of one address
	// for anonymous demo viewers); a new stream beyond it ends that principal's oldest. It defaults to 8.
	MaxEventStreamsPerPrincipal int `yaml:"max_event_streams_per_principal"`
}

// defaultHTTPLimits are http.limits' defaults; Default uses them.
func defaultHTTPLimits() HTTPLimitsConfig {
	return HTTPLimitsConfig{
		MaxConnections:              1024,
		MaxConnectionsPerAddress:    64,
		ReadHeaderTimeout:           Duration(10 * time.Second),
		BodyReadTimeout:             Duration(30 * time.Second),
		IdleTimeout:                 Duration(2 * time.Minute),
		MaxBodyBytes:                1 << 20,
		MaxLoginBodyBytes:           16 << 10,
		MaxEventStreams:             256,
		MaxEventStreamsPerPrincipal: 8,
	}
}

func (c *Config) validateHTTPLimits(v validator) {
	l := &c.HTTP.Limits
	atLeast := func(path string, n, lo int) {
		if n < lo {
			v.add(path, "must be >= %d; got %d", lo, n)
		}
	}
	atLeast("http.limits.max_connections", l.MaxConnections, 1)
	atLeast("http.limits.max_connections_per_address", l.MaxConnectionsPerAddress, 1)
	if l.MaxConnectionsPerAddress > l.MaxConnections && l.MaxConnections >= 1 {
		v.add("http.limits.max_connections_per_address", "must be <= max_connections (%d); got %d",
			l.MaxConnections, l.MaxConnectionsPerAddress)
	}
	v.positive("http.limits.read_header_timeout", l.ReadHeaderTimeout)
	v.positive("http.limits.body_read_timeout", l.BodyReadTimeout)
	v.positive("http.limits.idle_timeout", l.IdleTimeout)
	if l.MaxBodyBytes < 1<<10 {
		v.add("http.limits.max_body_bytes", "must be >= 1KiB; got %s", quote(l.MaxBodyBytes.String()))
	}
	if l.MaxLoginBodyBytes < 1<<10 || l.MaxLoginBodyBytes > l.MaxBodyBytes {
		v.add("http.limits.max_login_body_bytes", "must be >= 1KiB and <= max_body_bytes (%s); got %s",
			l.MaxBodyBytes, quote(l.MaxLoginBodyBytes.String()))
	}
	atLeast("http.limits.max_event_streams", l.MaxEventStreams, 1)
	atLeast("http.limits.max_event_streams_per_principal", l.MaxEventStreamsPerPrincipal, 1)
	if l.MaxEventStreamsPerPrincipal > l.MaxEventStreams && l.MaxEventStreams >= 1 {
		v.add("http.limits.max_event_streams_per_principal", "must be <= max_event_streams (%d); got %d",
			l.MaxEventStreams, l.MaxEventStreamsPerPrincipal)
	}
	if l.MaxEventStreams >= l.MaxConnections && l.MaxConnections >= 1 {
		v.add("http.limits.max_event_streams", "must be < max_connections (%d), or streams can take every connection; got %d",
			l.MaxConnections, l.MaxEventStreams)
	}
}
