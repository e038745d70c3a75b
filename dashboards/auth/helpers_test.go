package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/internal/clock"
	"citywatch/internal/testenv"
)

// env is an Auth with its database, audit log, clock, logs and a real HTTP server.
type env struct {
	a        *auth.Auth
	audit    *audit.Log
	clock    *clock.Fake
	logs     *testenv.Buffer
	reg      *prometheus.Registry
	dir      string
	srv      *httptest.Server
	router   *auth.Router
	adminPW  string
	adminTok string
}

const testAdminToken = "test-admin-token-0123456789"

// fastArgon keeps tests quick; production uses the defaults.
var fastArgon = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}

func newEnv(t *testing.T, mod func(*auth.Config)) *env {
	t.Helper()
	e := &env{clock: clock.NewFake(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)), logs: &testenv.Buffer{},
		reg: prometheus.NewRegistry(), dir: t.TempDir()}
	db, err := auth.OpenDB(filepath.Join(e.dir, "meta.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.audit, err = audit.New(db, audit.Config{}, audit.Deps{Logger: logger, Registerer: e.reg, Clock: e.clock})
	require.NoError(t, err)
	cfg := auth.Config{DataDir: e.dir, AdminToken: testAdminToken, Argon2: fastArgon}
	if mod != nil {
		mod(&cfg)
	}
	e.adminTok = cfg.AdminToken
	e.a, err = auth.New(cfg, auth.Deps{DB: db, Audit: e.audit, Logger: logger, Registerer: e.reg, Clock: e.clock,
		OnInitialAdmin: func(user, pw string) { e.adminPW = pw }})
	require.NoError(t, err)
	e.router = auth.NewRouter()
	e.a.Register(e.router)
	e.audit.Register(e.router, e.a.Wrap(auth.ActionReadAudit))
	e.router.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	e.router.Handle("GET /api/whoami-video", e.a.Require(auth.ActionVideo, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.FromContext(r.Context())
		_, _ = io.WriteString(w, p.Name)
	})))
	e.router.Handle("POST /api/alerts/{id}/ack", e.a.Require(auth.ActionAck, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"acked":true}`)
	})))
	e.srv = httptest.NewServer(e.a.Middleware(e.router))
	t.Cleanup(e.srv.Close)
	return e
}

// client is an HTTP client with its own cookie jar and, after login, the CSRF token.
type client struct {
	t     *testing.T
	e     *env
	hc    *http.Client
	csrf  string
	token string
}

func (e *env) client(t *testing.T) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %q", r.body)
	return m
}

func (c *client) do(method, path, body string, hdr ...string) resp {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.e.srv.URL+path, rd)
	require.NoError(c.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.hc.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	return resp{code: res.StatusCode, header: res.Header, body: b}
}

func (c *client) login(user, pw string) resp {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	r := c.do("POST", "/api/login", string(body))
	if r.code == http.StatusOK {
		c.csrf = r.json(c.t)["csrf_token"].(string)
	}
	return r
}

// adminClient is logged in as the initial admin.
func (e *env) adminClient(t *testing.T) *client {
	c := e.client(t)
	r := c.login("admin", e.adminPW)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	return c
}

// bearer is a client authenticating with token.
func (e *env) bearer(t *testing.T, token string) *client {
	c := e.client(t)
	c.token = token
	return c
}

// records returns the audit records, oldest first.
func (e *env) records(t *testing.T, f audit.Filter) []audit.Record {
	t.Helper()
	f.Limit = 10000
	recs, err := e.audit.Query(context.Background(), f)
	require.NoError(t, err)
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
