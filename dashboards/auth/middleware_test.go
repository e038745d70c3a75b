package auth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
)

func TestAnonymous(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	r := c.do("GET", "/api/me", "")
	assert.Equal(t, http.StatusUnauthorized, r.code)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "authentication required", r.json(t)["error"])
	assert.NotEmpty(t, r.header.Get("WWW-Authenticate"))

	r = c.do("GET", "/api/audit?limit=5", "", "Accept", "text/html,application/xhtml+xml")
	assert.Equal(t, http.StatusSeeOther, r.code)
	assert.Equal(t, "/login?next=%2Fapi%2Faudit%3Flimit%3D5", r.header.Get("Location"))

	assert.Equal(t, http.StatusOK, c.do("GET", "/healthz", "").code)
	assert.Equal(t, http.StatusOK, c.do("HEAD", "/healthz", "").code)
	assert.Equal(t, http.StatusBadRequest, c.do("POST", "/api/login", `{}`).code, "login is public")
	assert.Equal(t, http.StatusUnauthorized, c.do("POST", "/api/alerts/1/ack", "").code)
	assert.Equal(t, http.StatusUnauthorized, c.do("GET", "/healthz/../api/me", "").code)
	assert.Equal(t, float64(4), counter(t, e.reg, "citywatch_auth_rejected_requests_total", map[string]string{"reason": "unauthenticated"}))
}

func TestSessionAndCSRF(t *testing.T) {
	e := newEnv(t, nil)
	c := e.adminClient(t)
	me := c.do("GET", "/api/me", "").json(t)
	assert.Equal(t, c.csrf, me["csrf_token"], "/api/me hands the CSRF token to a reloaded page")

	csrf := c.csrf
	cases := []struct {
		name   string
		header string
		want   int
	}{
		{"missing", "", http.StatusForbidden},
		{"wrong", "not-the-token", http.StatusForbidden},
		{"prefix", csrf[:10], http.StatusForbidden},
		{"right", csrf, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.csrf = tc.header
			r := c.do("POST", "/api/alerts/7/ack", "")
			assert.Equal(t, tc.want, r.code, "%s", r.body)
			if tc.want == http.StatusForbidden {
				assert.Contains(t, r.json(t)["error"], "CSRF")
			}
		})
	}
	c.csrf = ""
	assert.Equal(t, http.StatusOK, c.do("GET", "/api/me", "").code, "safe methods need no CSRF token")
	assert.Equal(t, http.StatusForbidden, c.do("POST", "/api/logout", "").code, "logout needs the CSRF token too")

	// Bearer requests are exempt: there is no ambient credential to forge.
	b := e.bearer(t, e.adminTok)
	assert.Equal(t, http.StatusOK, b.do("POST", "/api/alerts/7/ack", "").code)
}

func TestSessionCookieAttributes(t *testing.T) {
	for _, secure := range []bool{false, true} {
		e := newEnv(t, func(c *auth.Config) { c.SecureCookies = secure })
		r := e.client(t).login("admin", e.adminPW)
		require.Equal(t, http.StatusOK, r.code)
		cookies := (&http.Response{Header: r.header}).Cookies()
		require.Len(t, cookies, 1)
		ck := cookies[0]
		assert.Equal(t, auth.SessionCookie, ck.Name)
		assert.True(t, ck.HttpOnly)
		assert.Equal(t, http.SameSiteLaxMode, ck.SameSite)
		assert.Equal(t, secure, ck.Secure)
		assert.Equal(t, "/", ck.Path)
		assert.GreaterOrEqual(t, len(ck.Value), 40)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, func(c *auth.Config) { c.SessionIdle = 30 * time.Minute; c.SessionMax = 2 * time.Hour })
	c := e.adminClient(t)
	e.clock.Advance(29 * time.Minute)
	require.Equal(t, http.StatusOK, c.do("GET", "/api/me", "").code)
	e.clock.Advance(29 * time.Minute) // used 29m ago: still alive
	require.Equal(t, http.StatusOK, c.do("GET", "/api/me", "").code)
	e.clock.Advance(31 * time.Minute) // idle too long
	r := c.do("GET", "/api/me", "")
	assert.Equal(t, http.StatusUnauthorized, r.code)
	assert.Equal(t, "session expired", r.json(t)["detail"])

	// Absolute expiry: busy all the time, still ends after SessionMax.
	c = e.adminClient(t)
	for i := 0; i < 5; i++ {
		e.clock.Advance(20 * time.Minute)
		require.Equal(t, http.StatusOK, c.do("GET", "/api/me", "").code, "after %d×20m", i+1)
	}
	e.clock.Advance(20 * time.Minute)
	assert.Equal(t, http.StatusUnauthorized, c.do("GET", "/api/me", "").code)
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	c := e.adminClient(t)
	require.Equal(t, http.StatusOK, c.do("POST", "/api/logout", "").code)
	assert.Equal(t, http.StatusUnauthorized, c.do("GET", "/api/me", "").code)
}

func TestBearerTokens(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	viewer, err := e.a.IssueToken(ctx, "wall", auth.RoleViewer, []string{"a"}, false, time.Hour)
	require.NoError(t, err)
	viewerVideo, err := e.a.IssueToken(ctx, "wall-video", auth.RoleViewer, []string{"a"}, true, time.Hour)
	require.NoError(t, err)

	r := e.bearer(t, viewer).do("GET", "/api/whoami-video", "")
	assert.Equal(t, http.StatusForbidden, r.code, "wrong role → 403, never 200")
	assert.Equal(t, "forbidden", r.json(t)["error"])
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	r = e.bearer(t, viewerVideo).do("GET", "/api/whoami-video", "")
	assert.Equal(t, http.StatusOK, r.code)
	assert.Equal(t, "wall-video", string(r.body))

	cases := []struct{ name, header string }{
		{"garbage", "Bearer cw_nope"},
		{"empty", "Bearer "},
		{"basic", "Basic YWRtaW46YWRtaW4="},
		{"huge", "Bearer " + strings.Repeat("x", 10000)},
	}
	for _, tc := range cases {
		r := e.client(t).do("GET", "/api/me", "", "Authorization", tc.header)
		assert.Equal(t, http.StatusUnauthorized, r.code, tc.name)
	}
	r = e.bearer(t, "cw_nope").do("GET", "/api/me", "")
	assert.Contains(t, r.header.Get("WWW-Authenticate"), "invalid_token")

	// Expired.
	e.clock.Advance(time.Hour)
	assert.Equal(t, http.StatusUnauthorized, e.bearer(t, viewer).do("GET", "/api/me", "").code)

	// Revoked through the API.
	admin := e.adminClient(t)
	r = admin.do("POST", "/api/tokens", `{"name":"ci","role":"operator","expires_in":"24h"}`)
	require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
	created := r.json(t)
	secret, id := created["token"].(string), created["id"].(string)
	assert.True(t, strings.HasPrefix(secret, "cw_"))
	assert.Equal(t, http.StatusOK, e.bearer(t, secret).do("GET", "/api/me", "").code)
	require.Equal(t, http.StatusNoContent, admin.do("DELETE", "/api/tokens/"+id, "").code)
	assert.Equal(t, http.StatusUnauthorized, e.bearer(t, secret).do("GET", "/api/me", "").code)
	assert.Equal(t, http.StatusNotFound, admin.do("DELETE", "/api/tokens/"+id, "").code, "already revoked")

	// A bearer header is never mixed with the cookie: a bad token fails even with a valid session.
	admin.token = "cw_wrong"
	assert.Equal(t, http.StatusUnauthorized, admin.do("GET", "/api/me", "").code)
}

func TestTokenLastUsed(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.bearer(t, e.adminTok)
	require.Equal(t, http.StatusOK, admin.do("GET", "/api/me", "").code)
	toks := admin.do("GET", "/api/tokens", "").json(t)["tokens"].([]any)
	require.Len(t, toks, 1)
	tok := toks[0].(map[string]any)
	assert.Equal(t, e.clock.Now().Format(time.RFC3339), tok["last_used_at"])
	assert.Equal(t, "env-admin", tok["id"])
	assert.NotContains(t, tok, "hash")
}
