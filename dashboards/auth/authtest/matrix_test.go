package authtest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/auth/authtest"
)

// server is a stand-in for the dashboards server: auth's and audit's routes plus typical lead routes.
type server struct {
	a      *auth.Auth
	router *auth.Router
	rules  []auth.RouteRule
}

// item serves one site-scoped item whose id is its site (the matrix's default fixture naming).
func item(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if !p.CanSeeSite(r.PathValue("id")) {
		http.Error(w, `{"error":"camera not found"}`, http.StatusNotFound)
		return
	}
	_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`"}`)
}

func ok(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"ok":true}`) }

// sse streams until the client goes away, like /api/events.
func sse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func newServer(t *testing.T, breakIt func(s *server)) *server {
	t.Helper()
	a, lg, _ := authtest.NewAuth(t, auth.Config{Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	s := &server{a: a, router: auth.NewRouter()}
	rt := s.router
	a.Register(rt)
	lg.Register(rt, a.Wrap(auth.ActionReadAudit))
	rt.HandleFunc("GET /healthz", ok)
	rt.Handle("GET /metrics", a.RequireFunc(auth.ActionReadMetrics, ok))
	rt.Handle("GET /api/cameras", a.RequireFunc(auth.ActionRead, ok))
	rt.Handle("GET /api/cameras/{id}", a.RequireFunc(auth.ActionRead, item))
	rt.Handle("GET /api/cameras/{id}/snapshot.jpg", a.RequireFunc(auth.ActionVideo, item))
	rt.Handle("POST /api/alerts/{id}/ack", a.RequireFunc(auth.ActionAck, item))
	rt.Handle("POST /api/silences", a.RequireFunc(auth.ActionSilence, ok))
	rt.Handle("PUT /api/rules", a.RequireFunc(auth.ActionManageRules, ok))
	rt.Handle("GET /api/events", a.RequireFunc(auth.ActionRead, sse))
	rt.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
	})
	s.rules = append(auth.Routes(),
		auth.RouteRule{Method: "GET", Pattern: "/api/audit", Action: auth.ActionReadAudit},
		auth.RouteRule{Method: "GET", Pattern: "/healthz", Public: true},
		auth.RouteRule{Method: "GET", Pattern: "/metrics", Action: auth.ActionReadMetrics},
		auth.RouteRule{Method: "GET", Pattern: "/api/cameras", Action: auth.ActionRead},
		auth.RouteRule{Method: "GET", Pattern: "/api/cameras/{id}", Action: auth.ActionRead, SiteScoped: true},
		auth.RouteRule{Method: "GET", Pattern: "/api/cameras/{id}/snapshot.jpg", Action: auth.ActionVideo, SiteScoped: true},
		auth.RouteRule{Method: "POST", Pattern: "/api/alerts/{id}/ack", Action: auth.ActionAck, SiteScoped: true},
		auth.RouteRule{Method: "POST", Pattern: "/api/silences", Action: auth.ActionSilence},
		auth.RouteRule{Method: "PUT", Pattern: "/api/rules", Action: auth.ActionManageRules},
		auth.RouteRule{Method: "GET", Pattern: "/api/events", Action: auth.ActionRead},
		auth.RouteRule{Pattern: "/", Action: auth.ActionSelf, OK: http.StatusNotFound},
	)
	if breakIt != nil {
		breakIt(s)
	}
	return s
}

func (s *server) matrix() authtest.Matrix {
	return authtest.Matrix{Handler: s.a.Middleware(s.router), Router: s.router, Auth: s.a, Rules: s.rules}
}

func TestMatrix(t *testing.T) {
	s := newServer(t, nil)
	authtest.CheckMatrix(t, s.matrix())
}

// recorder is a testing.TB that collects failures instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

// brokenCases are defects the matrix must catch, with a message it must report.
var brokenCases = []struct {
	name    string
	breakIt func(s *server)
	want    string
}{
	{"route without rule", func(s *server) {
		s.router.Handle("GET /api/secret", s.a.RequireFunc(auth.ActionRead, ok))
	}, `access matrix: route "GET /api/secret" has no RouteRule`},
	{"rule without route", func(s *server) {
		s.rules = append(s.rules, auth.RouteRule{Method: "GET", Pattern: "/api/gone", Action: auth.ActionRead})
	}, `access matrix: rule for "GET /api/gone", but no such route is registered`},
	{"missing Require", func(s *server) {
		s.router.HandleFunc("DELETE /api/rules", ok)
		s.rules = append(s.rules, auth.RouteRule{Method: "DELETE", Pattern: "/api/rules", Action: auth.ActionManageRules})
	}, "DELETE /api/rules as viewer (site site-a): status 200, want 403"},
	{"missing site check", func(s *server) {
		s.router.Handle("GET /api/clips/{id}", s.a.RequireFunc(auth.ActionVideo, ok))
		s.rules = append(s.rules, auth.RouteRule{Method: "GET", Pattern: "/api/clips/{id}", Action: auth.ActionVideo, SiteScoped: true})
	}, "GET /api/clips/site-b as health_staff (site site-b): status 200, want 404"},
	{"wrong action in rule", func(s *server) {
		for i := range s.rules {
			if s.rules[i].Pattern == "/api/silences" {
				s.rules[i].Action = auth.ActionAck
			}
		}
	}, "POST /api/silences as health_staff (site site-a): status 403, want 200"},
}

func TestMatrixCatches(t *testing.T) {
	for _, tc := range brokenCases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, tc.breakIt)
			rec := &recorder{TB: t}
			authtest.CheckMatrix(rec, s.matrix())
			assert.Contains(t, strings.Join(rec.errs, "\n"), tc.want)
		})
	}
}
