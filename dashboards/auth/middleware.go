package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// touchEvery bounds how often a session's last-seen or a token's last-used time is written: the idle timeout
// and last_used_at are accurate to this, and a busy dashboard does not write on every request.
const touchEvery = time.Minute

type publicPath struct {
	method, path string
	prefix       bool
}

func parsePublic(list []string) ([]publicPath, error) {
	out := make([]publicPath, 0, len(list))
	for _, s := range list {
		m, p, ok := strings.Cut(s, " ")
		if !ok || m == "" || !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " {}") {
			return nil, fmt.Errorf("auth: public path %q: want \"METHOD /path\" or \"METHOD /prefix/\"", s)
		}
		out = append(out, publicPath{method: m, path: p, prefix: strings.HasSuffix(p, "/")})
	}
	return out, nil
}

func (a *Auth) isPublic(r *http.Request) bool {
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	path := r.URL.Path
	for _, p := range a.public {
		if p.method != m {
			continue
		}
		if path == p.path || (p.prefix && strings.HasPrefix(path, p.path) && !strings.Contains(path, "/../")) {
			return true
		}
	}
	return false
}

// authResult is what authenticate found.
type authResult struct {
	p       Principal
	ok      bool   // credentials present and valid
	present bool   // some credential was presented
	session []byte // hash of the session id when authenticated by cookie
	csrf    string // the session's CSRF token
	reason  string // why presented credentials were refused
}

// Middleware authenticates every request by `Authorization: Bearer <token>` or the session cookie (a bearer
// header wins and is never mixed with a cookie), puts the Principal in the request context, and refuses
// anonymous requests except to the public paths: 401 JSON, or a redirect to the login page for browser page
// loads. State-changing requests authenticated by cookie must carry the session's CSRF token in X-CSRF-Token.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := a.authenticate(r)
		if res.ok {
			if res.session != nil && unsafeMethod(r.Method) && !a.isPublic(r) &&
				subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(res.csrf)) != 1 {
				a.rejected.WithLabelValues("csrf").Inc()
				writeError(w, http.StatusForbidden, "missing or invalid CSRF token", "send the csrf_token from /api/login or /api/me in the "+CSRFHeader+" header")
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), res.p)))
			return
		}
		if a.isPublic(r) {
			next.ServeHTTP(w, r)
			return
		}
		reason := "unauthenticated"
		if res.present {
			reason = "invalid_credentials"
		}
		a.rejected.WithLabelValues(reason).Inc()
		a.unauthorized(w, r, res)
	})
}

func (a *Auth) unauthorized(w http.ResponseWriter, r *http.Request, res authResult) {
	if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html") &&
		r.Header.Get("Authorization") == "" {
		if res.session == nil && res.present {
			a.clearCookie(w, r) // a dead session cookie: drop it so the login page starts clean
		}
		http.Redirect(w, r, a.cfg.LoginPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="citywatch", error="invalid_token"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="citywatch"`)
	}
	var detail any
	if res.reason != "" {
		detail = res.reason
	}
	writeError(w, http.StatusUnauthorized, "authentication required", detail)
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

func (a *Auth) authenticate(r *http.Request) authResult {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return authResult{present: true, reason: "unsupported Authorization scheme, use Bearer"}
		}
		return a.authToken(r, strings.TrimSpace(tok))
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return authResult{}
	}
	return a.authSession(r, c.Value)
}

func (a *Auth) authToken(r *http.Request, tok string) authResult {
	bad := authResult{present: true, reason: "invalid, expired or revoked token"}
	if len(tok) > 512 {
		return bad
	}
	h := sha256.Sum256([]byte(tok))
	t, ownerDisabled, err := a.st.tokenByHash(r.Context(), h[:])
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			a.log.Error("token lookup failed", "err", err)
		}
		return bad
	}
	now := a.now()
	if subtle.ConstantTimeCompare(t.hash, h[:]) != 1 || t.RevokedAt != nil || ownerDisabled || !t.Role.Valid() ||
		(t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) {
		return bad
	}
	if t.LastUsed == nil || now.Sub(*t.LastUsed) >= touchEvery {
		if err := a.st.touchToken(r.Context(), t.ID, now); err != nil {
			a.log.Warn("recording token use failed", "token_id", t.ID, "err", err)
		}
	}
	return authResult{ok: true, present: true, p: Principal{
		Kind: KindToken, ID: t.ID, Name: t.Name, Role: t.Role, Sites: t.Sites, Video: t.Video, Owner: t.Owner,
	}}
}

func (a *Auth) authSession(r *http.Request, id string) authResult {
	bad := authResult{present: true, reason: "session expired"}
	if len(id) > 128 {
		return bad
	}
	h := sha256.Sum256([]byte(id))
	s, err := a.st.session(r.Context(), h[:])
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			a.log.Error("session lookup failed", "err", err)
		}
		return bad
	}
	now := a.now()
	if s.user.Disabled || !s.user.Role.Valid() || now.Sub(s.created) >= a.cfg.SessionMax ||
		now.Sub(s.lastSeen) >= a.cfg.SessionIdle {
		if err := a.st.deleteSession(r.Context(), h[:]); err != nil {
			a.log.Warn("deleting an expired session failed", "err", err)
		}
		return bad
	}
	if now.Sub(s.lastSeen) >= touchEvery {
		if err := a.st.touchSession(r.Context(), h[:], now); err != nil {
			a.log.Warn("recording session use failed", "err", err)
		}
	}
	u := s.user
	return authResult{ok: true, present: true, session: h[:], csrf: s.csrf, p: Principal{
		Kind: KindUser, ID: u.Username, Name: u.Username, Role: u.Role, Sites: u.Sites, Video: u.Video,
	}}
}

// Require serves h only to principals allowed action: anonymous requests get 401 and principals whose role
// lacks action get 403, both as JSON errors. Site scoping is h's job (FilterSites, 404 for other sites' items).
func (a *Auth) Require(action Action, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			a.rejected.WithLabelValues("unauthenticated").Inc()
			writeError(w, http.StatusUnauthorized, "authentication required", nil)
			return
		}
		if !p.Can(action) {
			a.rejected.WithLabelValues("forbidden").Inc()
			writeError(w, http.StatusForbidden, "forbidden", map[string]string{"action": string(action), "role": string(p.Role)})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// RequireFunc is Require for a handler function.
func (a *Auth) RequireFunc(action Action, h http.HandlerFunc) http.Handler {
	return a.Require(action, h)
}

// Wrap returns Require bound to action, for registrars that take a wrapper (audit.Log.Register).
func (a *Auth) Wrap(action Action) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler { return a.Require(action, h) }
}

// ClientIP is the request's client address: the TCP peer, or, when the peer is a trusted proxy, the nearest
// untrusted address in X-Forwarded-For.
func (a *Auth) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !a.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		peer = ip.Unmap()
		if !a.trusted(peer) {
			break
		}
	}
	return peer.String()
}

func (a *Auth) trusted(ip netip.Addr) bool {
	for _, p := range a.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
