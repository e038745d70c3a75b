// Package authtest checks a server's access control against its access matrix: every route × every role ×
// own and other site × anonymous gets exactly the expected status, and no route goes without a rule.
package authtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"citywatch/dashboards/auth"
)

// Matrix is what CheckMatrix checks.
type Matrix struct {
	// Handler is the server's whole handler chain (auth.Middleware around the Router).
	Handler http.Handler
	// Router is where every route was registered; routes without a rule fail the check.
	Router *auth.Router
	// Auth issues a token for each role.
	Auth *auth.Auth
	// Rules are the expected access rules, one per registered pattern.
	Rules []auth.RouteRule
	// OwnSite is the site the site-restricted principals belong to; OtherSite is one they do not. They
	// default to "site-a" and "site-b".
	OwnSite, OtherSite string
	// Path returns the request path for rule addressing an item of site. It defaults to DefaultPath.
	Path func(rule auth.RouteRule, site string) string
}

// Subject is one kind of caller the matrix tries.
type Subject struct {
	Name string
	// Anonymous subjects send no credentials.
	Anonymous bool
	Principal auth.Principal
}

// Subjects returns the callers CheckMatrix tries, with own the site of the site-restricted ones.
func Subjects(own string) []Subject {
	return []Subject{
		{Name: "anonymous", Anonymous: true},
		{Name: "admin", Principal: auth.Principal{Role: auth.RoleAdmin}},
		{Name: "operator", Principal: auth.Principal{Role: auth.RoleOperator}},
		{Name: "operator_own_site", Principal: auth.Principal{Role: auth.RoleOperator, Sites: []string{own}}},
		{Name: "health_staff", Principal: auth.Principal{Role: auth.RoleHealthStaff, Sites: []string{own}}},
		{Name: "viewer", Principal: auth.Principal{Role: auth.RoleViewer, Sites: []string{own}}},
		{Name: "viewer_video", Principal: auth.Principal{Role: auth.RoleViewer, Sites: []string{own}, Video: true}},
		{Name: "viewer_all_sites", Principal: auth.Principal{Role: auth.RoleViewer, Sites: []string{auth.AllSitesWildcard}}},
	}
}

// Expected is the status rule must give subject for an item of site.
func Expected(rule auth.RouteRule, s Subject, site string) int {
	ok := rule.OK
	if ok == 0 {
		ok = http.StatusOK
	}
	switch {
	case rule.Public:
		return ok
	case s.Anonymous:
		return http.StatusUnauthorized
	case !s.Principal.Can(rule.Action), rule.AllSites && !s.Principal.AllSites():
		return http.StatusForbidden
	case rule.SiteScoped && !s.Principal.CanSeeSite(site):
		return http.StatusNotFound
	}
	return ok
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// DefaultPath fills the pattern's wildcards with site for site-scoped rules (name your fixtures' items after
// their site) and with "x" otherwise; {$} becomes nothing.
func DefaultPath(rule auth.RouteRule, site string) string {
	return wildcard.ReplaceAllStringFunc(rule.Pattern, func(w string) string {
		if w == "{$}" {
			return ""
		}
		if rule.SiteScoped {
			return site
		}
		return "x"
	})
}

// CheckMatrix fails t for every route without a rule, every rule without a route, and every request whose
// status differs from Expected. Denials must be JSON; anonymous browser page loads of GET routes must be
// redirected to the login page. Subjects authenticate with bearer tokens.
func CheckMatrix(t testing.TB, m Matrix) {
	t.Helper()
	if m.OwnSite == "" {
		m.OwnSite = "site-a"
	}
	if m.OtherSite == "" {
		m.OtherSite = "site-b"
	}
	if m.Path == nil {
		m.Path = DefaultPath
	}
	if !checkCoverage(t, m.Router.Patterns(), m.Rules) {
		return
	}
	tokens := map[string]string{}
	for _, s := range Subjects(m.OwnSite) {
		if s.Anonymous {
			continue
		}
		p := s.Principal
		secret, err := m.Auth.IssueToken(context.Background(), "matrix-"+s.Name, p.Role, p.Sites, p.Video, time.Hour)
		if err != nil {
			t.Fatalf("issue a token for %s: %v", s.Name, err)
		}
		tokens[s.Name] = secret
	}
	for _, rule := range m.Rules {
		sites := []string{m.OwnSite}
		if rule.SiteScoped {
			sites = append(sites, m.OtherSite)
		}
		for _, site := range sites {
			for _, s := range Subjects(m.OwnSite) {
				want := Expected(rule, s, site)
				got, ctype := do(m.Handler, request(m, rule, site, tokens[s.Name], "application/json"))
				if got != want {
					t.Errorf("%s %s as %s (site %s): status %d, want %d", method(rule), m.Path(rule, site), s.Name, site, got, want)
					continue
				}
				if (got == http.StatusUnauthorized || got == http.StatusForbidden) && !strings.HasPrefix(ctype, "application/json") {
					t.Errorf("%s %s as %s: denial with Content-Type %q, want JSON", method(rule), m.Path(rule, site), s.Name, ctype)
				}
			}
		}
		if !rule.Public && method(rule) == http.MethodGet {
			code, _ := do(m.Handler, request(m, rule, m.OwnSite, "", "text/html,application/xhtml+xml"))
			if code != http.StatusSeeOther {
				t.Errorf("GET %s as an anonymous browser: status %d, want a 303 redirect to the login page", m.Path(rule, m.OwnSite), code)
			}
		}
	}
}

// checkCoverage reports whether patterns and rules correspond one to one, failing t otherwise.
func checkCoverage(t testing.TB, patterns []string, rules []auth.RouteRule) bool {
	t.Helper()
	ok := true
	keys := map[string]bool{}
	for _, r := range rules {
		if keys[r.Key()] {
			t.Errorf("access matrix: two rules for %q", r.Key())
			ok = false
		}
		keys[r.Key()] = true
		if !slices.Contains(patterns, r.Key()) {
			t.Errorf("access matrix: rule for %q, but no such route is registered", r.Key())
			ok = false
		}
	}
	for _, p := range patterns {
		if !keys[p] {
			t.Errorf("access matrix: route %q has no RouteRule", p)
			ok = false
		}
	}
	return ok
}

func method(r auth.RouteRule) string {
	if r.Method == "" {
		return http.MethodGet
	}
	return r.Method
}

func request(m Matrix, rule auth.RouteRule, site, token, accept string) *http.Request {
	var body *strings.Reader
	if rule.Body != "" {
		body = strings.NewReader(rule.Body)
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method(rule), m.Path(rule, site), body)
	r.Header.Set("Accept", accept)
	if rule.Body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// do serves r and returns its status as soon as the handler commits to one, then cancels the request, so
// streaming routes (SSE, live view) take part like any other.
func do(h http.Handler, r *http.Request) (int, string) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	w := &headerWriter{header: http.Header{}, wrote: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(w, r.WithContext(ctx))
	}()
	select {
	case <-w.wrote:
	case <-done:
	}
	cancel()
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.code, w.ctype
}

// headerWriter records the status and discards the body.
type headerWriter struct {
	mu     sync.Mutex
	header http.Header
	code   int
	ctype  string
	once   sync.Once
	wrote  chan struct{}
}

func (w *headerWriter) Header() http.Header { return w.header }

func (w *headerWriter) WriteHeader(code int) {
	w.mu.Lock()
	if w.code == 0 {
		w.code = code
		w.ctype = w.header.Get("Content-Type")
	}
	w.mu.Unlock()
	w.once.Do(func() { close(w.wrote) })
}

func (w *headerWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}

// Flush lets streaming handlers flush.
func (w *headerWriter) Flush() { w.WriteHeader(http.StatusOK) }

// DecodeError decodes a JSON error body, for tests asserting messages.
func DecodeError(body []byte) (msg string, err error) {
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return "", fmt.Errorf("not a JSON error body: %w", err)
	}
	return e.Error, nil
}
