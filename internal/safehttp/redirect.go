// Package safehttp holds the HTTP client policy shared by every client of citywatch that carries a secret
// (webhook receivers' headers, tokens in URLs and signatures; the InfluxDB token): which redirects it follows.
package safehttp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrRedirectRefused is returned (wrapped, inside the client's *url.Error) when a server redirects a request
// somewhere CheckRedirect does not follow. The request is not sent there.
var ErrRedirectRefused = errors.New("redirect not followed")

// CheckRedirect returns an http.Client.CheckRedirect that follows at most max redirects, and only those that
// stay on the first request's origin (scheme, host and port) and keep its method (307 and 308 for a POST).
//
// Go's client drops Authorization and Cookie on a redirect to another domain, but keeps every other header
// (X-Api-Key, a webhook signature), keeps Authorization on a redirect to a subdomain, to another port of the
// same host or from https to http, and turns a POST answered 301/302/303 into a GET without the body. A
// client that carries secrets must therefore not follow such redirects at all: stripping headers would still
// send the payload (alert details) to a host nobody configured, and a method-changing redirect would drop it
// while the receiver answers 200. The operator updates the configured URL instead.
func CheckRedirect(max int) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > max {
			return fmt.Errorf("%w: stopped after %d redirects", ErrRedirectRefused, max)
		}
		first := via[0]
		if !SameOrigin(first.URL, req.URL) {
			return fmt.Errorf("%w: the server redirected to another origin (%s); configure that address instead",
				ErrRedirectRefused, Origin(req.URL))
		}
		if req.Method != first.Method {
			code := 0
			if req.Response != nil {
				code = req.Response.StatusCode
			}
			return fmt.Errorf("%w: the server answered %d, which would resend the %s as a %s without its body",
				ErrRedirectRefused, code, first.Method, req.Method)
		}
		return nil
	}
}

// SameOrigin reports whether a and b have the same scheme, host and port (RFC 6454), default ports made
// explicit and host names compared case-insensitively.
func SameOrigin(a, b *url.URL) bool {
	return Origin(a) == Origin(b)
}

// Origin is u's scheme://host:port in lower case with the scheme's default port filled in. It never holds
// u's user info, path or query, so it can be shown in errors.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}
