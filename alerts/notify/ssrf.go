package notify

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"citywatch/internal/netguard"
	"citywatch/internal/safehttp"
)

// ErrBlockedDestination is returned (wrapped) when a webhook would connect to an internal address and the
// receiver does not set AllowPrivate. Such a delivery is not retried.
var ErrBlockedDestination = errors.New("destination address blocked (set allow_private to permit internal targets)")

// maxRedirects is how many redirects a webhook may follow, all on the receiver's origin; each target is
// re-checked by the dialer.
const maxRedirects = 3

// BlockedReason says why ip is refused as a webhook destination without allow_private ("loopback",
// "private", ...), or "" when it is a public address (netguard.BlockedReason).
func BlockedReason(ip netip.Addr) string { return netguard.BlockedReason(ip) }

// blockedReason says why ip is internal, or "" when it is a public address.
func blockedReason(ip netip.Addr) string { return netguard.BlockedReason(ip) }

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
