package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// TestAuditedActions drives every action auth records and checks each yields exactly one record with the
// right fields.
func TestAuditedActions(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.client(t)
	require.Equal(t, http.StatusUnauthorized, admin.login("admin", "wrong-password-1").code)
	require.Equal(t, http.StatusOK, admin.login("admin", e.adminPW).code)
	require.Equal(t, http.StatusCreated, admin.do("POST", "/api/users",
		`{"username":"op","password":"op-password-123","role":"operator"}`).code)
	require.Equal(t, http.StatusOK, admin.do("PATCH", "/api/users/op", `{"video":true,"password":"op-password-456"}`).code)
	r := admin.do("POST", "/api/tokens", `{"name":"ci","role":"operator"}`)
	require.Equal(t, http.StatusCreated, r.code)
	tokID := r.json(t)["id"].(string)
	require.Equal(t, http.StatusNoContent, admin.do("DELETE", "/api/tokens/"+tokID, "").code)
	require.Equal(t, http.StatusNoContent, admin.do("DELETE", "/api/users/op", "").code)
	require.Equal(t, http.StatusOK, admin.do("POST", "/api/logout", "").code)

	want := []audit.Record{
		{Actor: "admin", Action: audit.LoginFailure, Detail: "wrong password"},
		{Actor: "admin", Role: "admin", Action: audit.LoginSuccess, Success: true},
		{Actor: "admin", Role: "admin", Action: audit.UserCreate, Target: "op", Success: true,
			Detail: "role=operator sites=[] video=false disabled=false"},
		{Actor: "admin", Role: "admin", Action: audit.UserUpdate, Target: "op", Success: true, Detail: "[password video=true]"},
		{Actor: "admin", Role: "admin", Action: audit.TokenCreate, Target: tokID, Success: true,
			Detail: `name="ci" owner="" role=operator sites=[]`},
		{Actor: "admin", Role: "admin", Action: audit.TokenRevoke, Target: tokID, Success: true, Detail: `name="ci"`},
		{Actor: "admin", Role: "admin", Action: audit.UserDelete, Target: "op", Success: true},
		{Actor: "admin", Role: "admin", Action: audit.Logout, Success: true},
	}
	got := e.records(t, audit.Filter{})
	require.Len(t, got, len(want))
	for i, w := range want {
		g := got[i]
		assert.Equal(t, e.clock.Now(), g.Time, w.Action)
		assert.Equal(t, "127.0.0.1", g.IP, w.Action)
		g.ID, g.Time, g.IP = 0, w.Time, ""
		assert.Equal(t, w, g)
	}
}

func TestAuditHelperAndEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	tok, err := e.a.IssueToken(context.Background(), "wall", auth.RoleViewer, []string{"a"}, true, 0)
	require.NoError(t, err)
	h := e.a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.a.Audit(r, audit.Record{Action: audit.LiveViewStart, Site: "a", Camera: "cam1", Success: true})
	}))
	req := httptest.NewRequest("GET", "/api/cameras/cam1/live", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.RemoteAddr = "192.0.2.7:5555"
	h.ServeHTTP(httptest.NewRecorder(), req)
	recs := e.records(t, audit.Filter{Action: audit.LiveViewStart})
	require.Len(t, recs, 1)
	assert.Equal(t, audit.Record{ID: recs[0].ID, Time: e.clock.Now(), Actor: "token/wall", Role: "viewer",
		Action: audit.LiveViewStart, Site: "a", Camera: "cam1", IP: "192.0.2.7", Success: true}, recs[0])

	// GET /api/audit is admins' only.
	assert.Equal(t, http.StatusForbidden, e.bearer(t, tok).do("GET", "/api/audit", "").code)
	r := e.bearer(t, e.adminTok).do("GET", "/api/audit?action=live_view_start", "")
	require.Equal(t, http.StatusOK, r.code)
	assert.Len(t, r.json(t)["records"], 1)
}

func TestClientIPBehindProxy(t *testing.T) {
	e := newEnv(t, func(c *auth.Config) {
		c.TrustedProxies = mustPrefixes(t, "10.0.0.0/8")
	})
	cases := []struct{ remote, xff, want string }{
		{"192.0.2.1:1", "203.0.113.9", "192.0.2.1"},                          // untrusted peer: header ignored
		{"10.1.1.1:1", "203.0.113.9", "203.0.113.9"},                         // trusted proxy
		{"10.1.1.1:1", "198.51.100.1, 203.0.113.9, 10.2.2.2", "203.0.113.9"}, // nearest untrusted hop
		{"10.1.1.1:1", "garbage", "10.1.1.1"},
		{"[::ffff:192.0.2.1]:1", "", "192.0.2.1"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		assert.Equal(t, tc.want, e.a.ClientIP(r), "%s %s", tc.remote, tc.xff)
	}
}

// TestSecretsNeverLogged runs every flow that handles a secret and scans the logs, the audit trail and the
// answers for them.
func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.adminClient(t)
	const userPW, newPW = "user-secret-password-1", "user-secret-password-2"
	var answers []string
	keep := func(r resp) resp { answers = append(answers, string(r.body)); return r }
	keep(admin.do("POST", "/api/users", `{"username":"op","password":"`+userPW+`","role":"operator"}`))
	keep(admin.do("PATCH", "/api/users/op", `{"password":"`+newPW+`"}`))
	keep(admin.do("POST", "/api/users", `{"username":"op2","password":"`+userPW+`","role":"operator","bad":1}`))
	keep(admin.do("POST", "/api/users", `{"username":"op3","password":"`+userPW+`","role":"wizard"}`))
	keep(e.client(t).login("op", userPW))
	keep(e.client(t).login(userPW, userPW)) // a password typed into the user name field
	op := e.client(t)
	keep(op.login("op", newPW))
	tokResp := keep(op.do("POST", "/api/tokens", `{"name":"t"}`))
	opToken := tokResp.json(t)["token"].(string)
	keep(e.bearer(t, opToken).do("GET", "/api/me", ""))
	keep(e.bearer(t, opToken+"x").do("GET", "/api/me", ""))
	keep(e.bearer(t, e.adminTok).do("GET", "/api/tokens", ""))
	keep(e.bearer(t, e.adminTok).do("GET", "/api/audit?format=csv", ""))

	logs := e.logs.String()
	require.NotEmpty(t, logs)
	var trail strings.Builder
	for _, r := range e.records(t, audit.Filter{}) {
		trail.WriteString(r.Actor + r.Detail + r.Target + "\n")
	}
	secrets := map[string]string{"admin password": e.adminPW, "new password": newPW, "token": opToken,
		"admin token": e.adminTok, "session csrf": admin.csrf}
	for name, s := range secrets {
		assert.NotContains(t, logs, s, "%s in the logs", name)
		for _, a := range answers {
			if name != "token" || !strings.Contains(a, `"token":`) { // the token is shown once, on creation
				assert.NotContains(t, a, s, "%s in an answer", name)
			}
		}
	}
	assert.NotContains(t, logs, userPW)
	// userPW appears in the trail only where it was typed as a user name (the line above), never as a password.
	assert.Equal(t, 1, strings.Count(trail.String(), userPW))
}
