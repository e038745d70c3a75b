package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
)

func TestInitialAdmin(t *testing.T) {
	e := newEnv(t, nil)
	require.NotEmpty(t, e.adminPW, "OnInitialAdmin was not called")
	path := filepath.Join(e.dir, auth.InitialAdminFile)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(data), "username: admin\n")
	assert.Contains(t, string(data), "password: "+e.adminPW+"\n")
	assert.GreaterOrEqual(t, len(e.adminPW), 20)

	c := e.adminClient(t)
	me := c.do("GET", "/api/me", "").json(t)
	assert.Equal(t, "admin", me["user"])
	assert.Equal(t, "admin", me["role"])

	// Changing the generated password removes the credentials file.
	r := c.do("PATCH", "/api/users/admin", `{"password":"a-new-long-password"}`)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, http.StatusOK, e.client(t).login("admin", "a-new-long-password").code)
	assert.Equal(t, http.StatusUnauthorized, e.client(t).login("admin", e.adminPW).code)
}

func TestInitialAdminOnlyOnce(t *testing.T) {
	dir := t.TempDir()
	db, err := auth.OpenDB(filepath.Join(dir, "meta.db"))
	require.NoError(t, err)
	defer db.Close()
	var calls int
	var first string
	for i := 0; i < 2; i++ {
		_, err := auth.New(auth.Config{DataDir: dir, Argon2: fastArgon}, auth.Deps{DB: db,
			OnInitialAdmin: func(_, pw string) { calls++; first = pw }})
		require.NoError(t, err)
	}
	assert.Equal(t, 1, calls)
	data, err := os.ReadFile(filepath.Join(dir, auth.InitialAdminFile))
	require.NoError(t, err)
	assert.Contains(t, string(data), first)
}

func TestInitialAdminNeedsADestination(t *testing.T) {
	db, err := auth.OpenDB(filepath.Join(t.TempDir(), "meta.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = auth.New(auth.Config{Argon2: fastArgon}, auth.Deps{DB: db})
	require.ErrorContains(t, err, "initial admin password")
}

// meStatus asks /api/me of a fresh Auth on db with the given bearer token.
func meStatus(t *testing.T, a *auth.Auth, token string) int {
	t.Helper()
	mux := auth.NewRouter()
	a.Register(mux)
	r := httptest.NewRequest("GET", "/api/me", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	a.Middleware(mux).ServeHTTP(w, r)
	return w.Code
}

func TestAdminTokenSeeding(t *testing.T) {
	dir := t.TempDir()
	db, err := auth.OpenDB(filepath.Join(dir, "meta.db"))
	require.NoError(t, err)
	defer db.Close()
	start := func(token string) *auth.Auth {
		a, err := auth.New(auth.Config{DataDir: dir, AdminToken: token, Argon2: fastArgon}, auth.Deps{DB: db})
		require.NoError(t, err)
		return a
	}
	const tok1, tok2 = "first-admin-token-value", "second-admin-token-value"
	a := start(tok1)
	assert.Equal(t, http.StatusOK, meStatus(t, a, tok1))
	a = start(tok1) // restart with the same value: idempotent
	assert.Equal(t, http.StatusOK, meStatus(t, a, tok1))
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM auth_tokens`).Scan(&n))
	assert.Equal(t, 1, n, "restarts must not pile up tokens")
	var stored []byte
	require.NoError(t, db.QueryRow(`SELECT hash FROM auth_tokens`).Scan(&stored))
	assert.NotContains(t, string(stored), tok1, "only the hash is stored")

	a = start(tok2) // a new value replaces the old one
	assert.Equal(t, http.StatusOK, meStatus(t, a, tok2))
	assert.Equal(t, http.StatusUnauthorized, meStatus(t, a, tok1))
	a = start("") // unset: the seeded token is gone
	assert.Equal(t, http.StatusUnauthorized, meStatus(t, a, tok2))

	_, err = auth.New(auth.Config{DataDir: dir, AdminToken: "short", Argon2: fastArgon}, auth.Deps{DB: db})
	assert.ErrorContains(t, err, "at least 16")
}

func TestCreateUserAndIssueToken(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	require.NoError(t, e.a.CreateUser(ctx, "Nurse.Ann", "a-long-password", auth.RoleHealthStaff, []string{"site-a"}, false))
	assert.Equal(t, http.StatusOK, e.client(t).login("nurse.ann", "a-long-password").code)
	assert.Error(t, e.a.CreateUser(ctx, "bob", "short", auth.RoleViewer, []string{"a"}, false))
	assert.Error(t, e.a.CreateUser(ctx, "bob", "a-long-password", auth.RoleViewer, nil, false), "viewers need a site")
	tok, err := e.a.IssueToken(ctx, "ci", auth.RoleOperator, nil, false, 0)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(tok, "cw_"))
	me := e.bearer(t, tok).do("GET", "/api/me", "").json(t)
	assert.Equal(t, "operator", me["role"])
	assert.Equal(t, "token", me["kind"])
}
