package auth_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
)

func TestLoginRateLimitPerUser(t *testing.T) {
	e := newEnv(t, func(c *auth.Config) {
		c.LoginFreeAttempts, c.LoginFreeAttemptsPerIP = 3, 1000
		c.LoginBackoff, c.LoginBackoffMax = time.Second, 4*time.Second
	})
	c := e.client(t)
	// The same sequence for an existing and an unknown user: no enumeration through status or message.
	for _, user := range []string{"admin", "ghost"} {
		t.Run(user, func(t *testing.T) {
			var bodies []string
			for i := 0; i < 4; i++ {
				r := c.login(user, "wrong-password-123")
				require.Equal(t, http.StatusUnauthorized, r.code, "attempt %d", i+1)
				bodies = append(bodies, string(r.body))
			}
			assert.Equal(t, `{"error":"invalid username or password"}`+"\n", bodies[0])
			r := c.login(user, "wrong-password-123")
			assert.Equal(t, http.StatusTooManyRequests, r.code, "the 4th failure starts a 1s lockout")
			assert.Equal(t, "1", r.header.Get("Retry-After"))
			if user == "admin" {
				assert.Equal(t, http.StatusTooManyRequests, c.login(user, e.adminPW).code, "locked even with the right password")
			}
			e.clock.Advance(time.Second)
			assert.Equal(t, http.StatusUnauthorized, c.login(user, "wrong-password-123").code)
			r = c.login(user, "wrong-password-123")
			assert.Equal(t, http.StatusTooManyRequests, r.code)
			assert.Equal(t, "2", r.header.Get("Retry-After"), "backoff doubles")
			e.clock.Advance(2 * time.Second)
			assert.Equal(t, http.StatusUnauthorized, c.login(user, "wrong-password-123").code)
			assert.Equal(t, "4", c.login(user, "x-wrong-password").header.Get("Retry-After"))
			e.clock.Advance(4 * time.Second)
			assert.Equal(t, http.StatusUnauthorized, c.login(user, "wrong-password-123").code)
			assert.Equal(t, "4", c.login(user, "x-wrong-password").header.Get("Retry-After"), "capped at the maximum")
			e.clock.Advance(4 * time.Second)
		})
	}
	// A success resets the user's count.
	require.Equal(t, http.StatusOK, c.login("admin", e.adminPW).code)
	assert.Equal(t, http.StatusUnauthorized, c.login("admin", "wrong-password-123").code)
	assert.Equal(t, float64(1), counter(t, e.reg, "citywatch_auth_logins_total", map[string]string{"result": "success"}))
	assert.Equal(t, float64(9), counter(t, e.reg, "citywatch_auth_logins_total", map[string]string{"result": "throttled"}))
	assert.Equal(t, float64(15), counter(t, e.reg, "citywatch_auth_logins_total", map[string]string{"result": "failure"}))
}

func TestLoginRateLimitPerIP(t *testing.T) {
	e := newEnv(t, func(c *auth.Config) { c.LoginFreeAttempts, c.LoginFreeAttemptsPerIP = 100, 3 })
	c := e.client(t)
	for _, u := range []string{"a1", "a2", "a3", "a4"} {
		assert.Equal(t, http.StatusUnauthorized, c.login(u, "wrong-password-123").code)
	}
	assert.Equal(t, http.StatusTooManyRequests, c.login("admin", e.adminPW).code, "the address is throttled")
	e.clock.Advance(time.Second)
	assert.Equal(t, http.StatusOK, c.login("admin", e.adminPW).code)
}

func TestLoginDisabledUser(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.adminClient(t)
	r := admin.do("POST", "/api/users", `{"username":"op","password":"op-password-123","role":"operator"}`)
	require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
	op := e.client(t)
	require.Equal(t, http.StatusOK, op.login("op", "op-password-123").code)
	require.Equal(t, http.StatusOK, admin.do("PATCH", "/api/users/op", `{"disabled":true}`).code)
	assert.Equal(t, http.StatusUnauthorized, op.do("GET", "/api/me", "").code, "disabling ends sessions")
	r = e.client(t).login("op", "op-password-123")
	assert.Equal(t, http.StatusUnauthorized, r.code)
	assert.Equal(t, "invalid username or password", r.json(t)["error"], "no hint that the password was right")
}

func TestLoginBadBodies(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	cases := []struct {
		name, body, ctype string
		want              int
		detail            string
	}{
		{"unknown field", `{"username":"a","password":"b","otp":"1"}`, "application/json", 400, `json: unknown field "otp"`},
		{"wrong type", `{"username":"a","password":12345678}`, "application/json", 400, `field "password": want string, got JSON number`},
		{"trailing", `{"username":"a","password":"b"} {}`, "application/json", 400, "trailing data after the JSON value"},
		{"not json", `username=a&password=b`, "application/json", 400, "malformed JSON at offset 1"},
		{"form", `username=a&password=b`, "application/x-www-form-urlencoded", 415, "Content-Type must be application/json"},
		{"missing password", `{"username":"a"}`, "application/json", 400, "password: required"},
		{"too big", `{"username":"` + string(make([]byte, 20<<10)) + `"}`, "application/json", 413, "body exceeds 16384 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "/api/login", tc.body, "Content-Type", tc.ctype)
			assert.Equal(t, tc.want, r.code)
			assert.Equal(t, tc.detail, r.json(t)["detail"])
		})
	}
}
