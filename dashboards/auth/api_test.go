package auth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// userCases are POST /api/users bodies with the expected status and error detail.
var userCases = []struct {
	name, body string
	want       int
	detail     string
}{
	{"ok viewer", `{"username":"Viewer1","password":"viewer-password","role":"viewer","sites":["a"],"video":true}`, 201, ""},
	{"duplicate", `{"username":"viewer1","password":"viewer-password","role":"viewer","sites":["a"]}`, 409, "viewer1"},
	{"short password", `{"username":"v2","password":"short","role":"viewer","sites":["a"]}`, 400, "password: at least 12 characters"},
	{"bad role", `{"username":"v2","password":"viewer-password","role":"root"}`, 400, `role: must be one of [admin operator health_staff viewer], got "root"`},
	{"staff without site", `{"username":"v2","password":"viewer-password","role":"health_staff"}`, 400, `sites: role health_staff needs at least one site (or ["*"] for a viewer of every site)`},
	{"admin with site", `{"username":"v2","password":"viewer-password","role":"admin","sites":["a"]}`, 400, "sites: admins see every site; leave sites empty"},
	{"duplicate site", `{"username":"v2","password":"viewer-password","role":"viewer","sites":["a","a"]}`, 400, `sites[1]: duplicate "a"`},
	{"bad name", `{"username":"../x","password":"viewer-password","role":"operator"}`, 400, "username: letters, digits and . _ @ - only, starting with a letter or digit"},
	{"unknown field", `{"username":"v2","password":"viewer-password","role":"operator","admin":true}`, 400, `json: unknown field "admin"`},
}

func TestUsersAPI(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.adminClient(t)
	for _, tc := range userCases {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.do("POST", "/api/users", tc.body)
			assert.Equal(t, tc.want, r.code, "%s", r.body)
			if tc.detail != "" {
				assert.Equal(t, tc.detail, r.json(t)["detail"])
			}
			assert.NotContains(t, string(r.body), "password-", "no password in any answer")
		})
	}
	users := admin.do("GET", "/api/users", "").json(t)["users"].([]any)
	require.Len(t, users, 2)
	v := users[1].(map[string]any)
	assert.Equal(t, "viewer1", v["username"])
	assert.Equal(t, []any{"a"}, v["sites"])
	assert.NotContains(t, v, "password_hash")

	viewer := e.client(t)
	require.Equal(t, http.StatusOK, viewer.login("viewer1", "viewer-password").code)
	assert.Equal(t, http.StatusOK, viewer.do("GET", "/api/whoami-video", "").code)
	assert.Equal(t, http.StatusForbidden, viewer.do("GET", "/api/users", "").code)

	// Changes apply to live sessions at once.
	r := admin.do("PATCH", "/api/users/viewer1", `{"video":false}`)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	assert.Equal(t, http.StatusForbidden, viewer.do("GET", "/api/whoami-video", "").code)
	r = admin.do("PATCH", "/api/users/viewer1", `{"sites":[]}`)
	assert.Equal(t, http.StatusBadRequest, r.code)
	assert.Equal(t, `sites: role viewer needs at least one site (or ["*"] for a viewer of every site)`, r.json(t)["detail"])
	assert.Equal(t, http.StatusBadRequest, admin.do("PATCH", "/api/users/viewer1", `{}`).code)
	assert.Equal(t, http.StatusNotFound, admin.do("PATCH", "/api/users/nobody", `{"video":true}`).code)

	// A password change ends the user's sessions.
	require.Equal(t, http.StatusOK, admin.do("PATCH", "/api/users/viewer1", `{"password":"another-password"}`).code)
	assert.Equal(t, http.StatusUnauthorized, viewer.do("GET", "/api/me", "").code)

	// The last admin cannot remove themselves.
	for _, body := range []string{`{"role":"operator"}`, `{"disabled":true}`} {
		r = admin.do("PATCH", "/api/users/admin", body)
		assert.Equal(t, http.StatusConflict, r.code, body)
		assert.Equal(t, "cannot remove the last enabled admin", r.json(t)["error"])
	}
	assert.Equal(t, http.StatusConflict, admin.do("DELETE", "/api/users/admin", "").code)
	require.Equal(t, http.StatusOK, admin.do("GET", "/api/me", "").code, "still admin")

	require.Equal(t, http.StatusNoContent, admin.do("DELETE", "/api/users/viewer1", "").code)
	assert.Equal(t, http.StatusNotFound, admin.do("DELETE", "/api/users/viewer1", "").code)
	assert.Equal(t, http.StatusUnauthorized, e.client(t).login("viewer1", "another-password").code)
}

func TestOwnTokens(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.adminClient(t)
	for _, u := range []string{"nurse1", "nurse2"} {
		r := admin.do("POST", "/api/users", `{"username":"`+u+`","password":"nurse-password","role":"health_staff","sites":["a"]}`)
		require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
	}
	n1, n2 := e.client(t), e.client(t)
	require.Equal(t, http.StatusOK, n1.login("nurse1", "nurse-password").code)
	require.Equal(t, http.StatusOK, n2.login("nurse2", "nurse-password").code)

	assert.Equal(t, http.StatusForbidden, n1.do("POST", "/api/tokens", `{"name":"x","role":"admin"}`).code, "no escalation")
	assert.Equal(t, http.StatusForbidden, n1.do("POST", "/api/tokens", `{"name":"x","expires_in":"never"}`).code)
	assert.Equal(t, http.StatusBadRequest, n1.do("POST", "/api/tokens", `{"name":"x","expires_in":"-1h"}`).code)
	r := n1.do("POST", "/api/tokens", `{"name":"tablet"}`)
	require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
	tok := r.json(t)
	assert.Equal(t, "nurse1", tok["owner"])
	assert.Equal(t, "health_staff", tok["role"])
	assert.Equal(t, "2027-02-25T08:00:00Z", tok["expires_at"], "90 days by default")
	secret, id := tok["token"].(string), tok["id"].(string)

	tb := e.bearer(t, secret)
	me := tb.do("GET", "/api/me", "").json(t)
	assert.Equal(t, "health_staff", me["role"])
	assert.Equal(t, []any{"a"}, me["sites"])
	assert.Nil(t, me["csrf_token"])

	// Only one's own tokens are visible and revocable.
	assert.Len(t, n1.do("GET", "/api/tokens", "").json(t)["tokens"], 1)
	assert.Len(t, n2.do("GET", "/api/tokens", "").json(t)["tokens"], 0)
	assert.Len(t, admin.do("GET", "/api/tokens", "").json(t)["tokens"], 2, "admin sees all (incl. the seeded one)")
	assert.Equal(t, http.StatusNotFound, n2.do("DELETE", "/api/tokens/"+id, "").code)
	assert.Equal(t, http.StatusNotFound, n2.do("DELETE", "/api/tokens/env-admin", "").code)

	// The token follows its owner: demoted owner, demoted token; deleted owner, dead token.
	require.Equal(t, http.StatusOK, admin.do("PATCH", "/api/users/nurse1", `{"role":"viewer"}`).code)
	assert.Equal(t, "viewer", tb.do("GET", "/api/me", "").json(t)["role"])
	require.Equal(t, http.StatusNoContent, admin.do("DELETE", "/api/users/nurse1", "").code)
	assert.Equal(t, http.StatusUnauthorized, tb.do("GET", "/api/me", "").code)

	// Standalone tokens: admins only, and a non-admin token cannot mint tokens.
	r = admin.do("POST", "/api/tokens", `{"name":"wall","role":"viewer","sites":["a"],"expires_in":"never"}`)
	require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
	assert.Nil(t, r.json(t)["expires_at"])
	wall := e.bearer(t, r.json(t)["token"].(string))
	r = wall.do("POST", "/api/tokens", `{"name":"x"}`)
	assert.Equal(t, http.StatusBadRequest, r.code)
	assert.True(t, strings.HasPrefix(r.json(t)["detail"].(string), "role: required"))
	assert.Len(t, wall.do("GET", "/api/tokens", "").json(t)["tokens"], 0)
}
