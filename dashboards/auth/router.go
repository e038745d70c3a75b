package auth

import (
	"net/http"
	"slices"
	"sync"
)

// RouteRule is the access rule of one route, for the access matrix test (authtest.CheckMatrix).
type RouteRule struct {
	// Method and Pattern are the route as registered: "GET" and "/api/cameras/{id}". An empty Method matches a
	// pattern registered without one ("/"), requested with GET.
	Method, Pattern string
	// Action is what the route requires (ignored when Public).
	Action Action
	// SiteScoped routes address one item of a site by id: principals who cannot see the site get 404.
	SiteScoped bool
	// Public routes answer OK to everyone, authenticated or not.
	Public bool
	// AllSites routes serve data that is not tied to a site the server can check (self metrics, rejected
	// payloads): principals limited to some sites get 403 even when their role has the action.
	AllSites bool
	// OK is the status an allowed request gets. It defaults to 200.
	OK int
	// Body is sent with the allowed requests (JSON); choose one that changes nothing when the matrix runs.
	Body string
}

// Key is the rule's route pattern as given to the mux.
func (r RouteRule) Key() string {
	if r.Method == "" {
		return r.Pattern
	}
	return r.Method + " " + r.Pattern
}

// Router is an http.ServeMux that remembers its patterns, so a test can prove every route has an access rule.
// Register every route through it (not through a ServeMux it wraps).
type Router struct {
	mux      *http.ServeMux
	mu       sync.Mutex
	patterns []string
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{mux: http.NewServeMux()} }

// Handle registers h for pattern, as http.ServeMux.Handle (and panics on the same conflicts).
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, h)
	rt.mu.Lock()
	rt.patterns = append(rt.patterns, pattern)
	rt.mu.Unlock()
}

// HandleFunc registers f for pattern.
func (rt *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}

// ServeHTTP dispatches to the matching handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

// Handler returns the handler and pattern for r, as http.ServeMux.Handler (for per-route metrics).
func (rt *Router) Handler(r *http.Request) (http.Handler, string) { return rt.mux.Handler(r) }

// Patterns returns the registered patterns in registration order.
func (rt *Router) Patterns() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.patterns)
}
