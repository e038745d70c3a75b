package notify

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"citywatch/internal/safehttp"
)

// ErrBlockedDestination is returned (wrapped) when a webhook would connect to an internal address and the
// receiver does not set AllowPrivate. Such a delivery is not retried.
var ErrBlockedDestination = errors.New("destination address blocked (set allow_private to permit internal targets)")

// maxRedirects is how many redirects a webhook may follow, all on the receiver's origin; each target is
// re-checked by the dialer.
const maxRedirects = 3

var blockedPrefixes = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "CGNAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "unique local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	v4Compatible = netip.MustParsePrefix("::/96")
)

// BlockedReason says why ip is refused as a webhook destination without allow_private ("loopback",
// "private", ...), or "" when it is a public address. Configuration validation uses it to refuse such URLs at load.
func BlockedReason(ip netip.Addr) string { return blockedReason(ip) }

// blockedReason says why ip is internal, or "" when it is a public address. IPv4 addresses embedded in IPv6
// (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) are checked as IPv4.
func blockedReason(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	for _, b := range blockedPrefixes {
		if b.p.Contains(ip) {
			return b.reason
		}
	}
	if ip.Is6() {
		a := ip.As16()
		var v4 netip.Addr
		switch {
		case nat64Prefix.Contains(ip), v4Compatible.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(a[12:16]))
		case sixToFour.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(a[2:6]))
		}
		if v4.IsValid() {
			if r := blockedReason(v4); r != "" {
				return r + " (embedded in IPv6)"
			}
		}
	}
	if ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "broadcast"
	}
	return ""
}

// guard checks every address the HTTP client dials. It runs in net.Dialer.Control, after DNS resolution, so a
// name that resolves to an internal address (or DNS rebinding between check and use) cannot get through.
type guard struct {
	allowPrivate bool
	// exempt lists "ip:port" addresses allowed despite being internal; tests use it to stand up a "public"
	// server on loopback.
	exempt map[string]bool
}

func (g guard) control(network, address string, _ syscall.RawConn) error {
	if g.allowPrivate || g.exempt[address] {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address", ErrBlockedDestination)
	}
	if r := blockedReason(ap.Addr()); r != "" {
		return fmt.Errorf("%w: %s is a %s address", ErrBlockedDestination, ap.Addr(), r)
	}
	return nil
}

// newHTTPClient builds the client for one receiver: SSRF-checking dialer, no proxy from the environment (it
// would bypass the check), http/https only, and at most maxRedirects redirects, each re-checked by the dialer
// and followed only on the receiver's own origin with the method kept (safehttp.CheckRedirect): the
// receiver's headers, URL token and signature never go to another host.
func newHTTPClient(g guard, maxConns int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns * 2,
		MaxIdleConnsPerHost:   maxConns,
		MaxConnsPerHost:       maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // per-attempt context deadline bounds the whole exchange
	}
	sameOrigin := safehttp.CheckRedirect(maxRedirects)
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to scheme %q", ErrBlockedDestination, req.URL.Scheme)
			}
			return sameOrigin(req, via)
		},
	}
}
