// Package dashboards is citywatch's HTTP server: health and readiness, self metrics, the Prometheus-compatible
// query API, the REST API and the embedded web UI, all on one listener.
package dashboards

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/dashboards/live"
	"citywatch/dashboards/openapi"
	"citywatch/dashboards/promapi"
	"citywatch/internal/logx"
)

// Config configures the HTTP server.
type Config struct {
	// Listen is the address to serve on. It defaults to 127.0.0.1:8080: until access control lands the API is
	// reachable from this machine only.
	Listen string
	// TLSCertFile and TLSKeyFile enable HTTPS when both are set.
	TLSCertFile, TLSKeyFile string
	// ShutdownTimeout bounds a graceful stop. It defaults to 5s.
	ShutdownTimeout time.Duration
	// AnonymousRead serves GET requests that carry no credentials as a read-only viewer of every site: no
	// video, no metrics, no changes. Only the demo sets it (simulated data on loopback), so a newcomer's curl
	// works; it defaults to false and has no configuration key.
	AnonymousRead bool
	// Limits bound connections, slow requests, request bodies and event streams.
	Limits Limits
	// Plans lets site plan uploads past Limits.MaxBodyBytes and the city map's tiles past the page's CSP
	// (siteplan.go).
	Plans PlanPage
}

// Mounter adds routes to a mux: the Prometheus-compatible query API registers its /api/v1/ routes on one that
// the server puts behind access control and site scoping.
type Mounter interface {
	Register(mux *http.ServeMux)
}

// Deps are the server's collaborators. Nil fields disable what they serve.
type Deps struct {
	Logger   *slog.Logger
	Gatherer prometheus.Gatherer
	// Registerer receives the server's own metrics.
	Registerer prometheus.Registerer
	// Ingest answers /api/devices and /api/ingest/rejected.
	Ingest IngestInfo
	// Cameras answers /api/cameras and /api/cameras/{id}.
	Cameras CameraInfo
	// Analysis adds each camera's analysis status to the camera API.
	Analysis AnalysisInfo
	// Alerts serves /api/alerts, /api/silences and /api/rules.
	Alerts AlertsAPI
	// ReloadRules re-reads the rule files (POST /api/rules/reload).
	ReloadRules func() error
	// Deliveries serves the notification log and replay.
	Deliveries DeliveriesAPI
	// Media serves snapshots, clips and the live view.
	Media MediaAPI
	// Live streams state changes at /api/events (Server-Sent Events).
	Live *live.Bus
	// PromAPI serves the Prometheus-compatible query API under /api/v1/. promapi.New confines site-limited
	// users to their sites' series itself (ScopeToSites below the engine); on a centre (promapi.NewRemote)
	// promapi.RequestSites does, through the query rewrite: both take the principal from the request.
	PromAPI Mounter
	// Auth authenticates every request and authorizes every route. Nil means no access control: for tests of
	// the handlers alone; app always sets it.
	Auth *auth.Auth
	// Audit serves /api/audit (admins only).
	Audit *audit.Log
	// Checks decide /readyz.
	Checks []Check
	// Routes are more routes with their access rules (the ward's API, app/ward.go).
	Routes []Route
	// MoreChecks, when not nil, adds checks asked anew on every /readyz: those of parts a configuration
	// reload may add or remove (external MQTT sources).
	MoreChecks func() []Check
}

// Check is one readiness condition; Err returns nil when it is met. A Degraded check reports its error in the
// /readyz detail without making the server unready: an InfluxDB uplink that is down must not take an edge out
// of service, since the edge keeps ingesting and alerting on its own. A check that writes (a disk or database
// probe) wraps its Err with Cached. The detail goes to authorised callers only (see readyz).
type Check struct {
	Name     string
	Err      func() error
	Degraded bool
}

// Server serves the HTTP API.
type Server struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	router *auth.Router
	rules  []auth.RouteRule
	srv    *http.Server
	ln     atomic.Pointer[net.Listener]
	done   chan struct{}
	once   sync.Once
	// streams ends long-lived streams (SSE) when Close starts, so a graceful stop does not wait them out;
	// base is every request's context, cancelled when the grace period is over.
	streams, base           context.Context
	stopStreams, cancelBase context.CancelFunc
	inflight                sync.WaitGroup
	reqs                    *prometheus.CounterVec
	errRun                  error
	// What enforces and counts the Limits.
	limitLn         atomic.Pointer[limitListener]
	streamCaps      *streamLimiter
	connsRejected   prometheus.Counter
	connsEvicted    prometheus.Counter
	bodyRejected    prometheus.Counter
	streamsRejected *prometheus.CounterVec
	streamsEvicted  prometheus.Counter
	// liveFails remembers series of refused live views, audited once per series (liveaudit.go).
	liveFails *attemptSeries
}

// New builds the server; Start binds it.
func New(cfg Config, deps Deps) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("dashboards: TLS needs both a certificate and a key file")
	}
	s := &Server{cfg: cfg, deps: deps, log: logx.Component(deps.Logger, "http"), router: auth.NewRouter(),
		done: make(chan struct{}), liveFails: newAttemptSeries(liveFailSeries, liveFailWindow, nil)}
	s.streams, s.stopStreams = context.WithCancel(context.Background())
	s.base, s.cancelBase = context.WithCancel(context.Background())
	reg := deps.Registerer
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_http_requests_total",
		Help: "HTTP requests served, by route pattern and status class.",
	}, []string{"route", "code"})
	if reg != nil {
		if err := reg.Register(s.reqs); err != nil {
			return nil, fmt.Errorf("dashboards: register metrics: %w", err)
		}
	}
	s.limitMetrics(reg)
	s.routes()
	return s, nil
}

// Handler returns the server's handler chain: metrics, then Prometheus' error shape for /api/v1 (promerrors.go),
// then body limits, then authentication, then the router.
func (s *Server) Handler() http.Handler {
	var h http.Handler = s.router
	if s.deps.Auth != nil {
		h = s.deps.Auth.Middleware(h)
		if s.cfg.AnonymousRead {
			h = anonymousReader(h, s.router)
		}
	}
	return s.instrument(promErrorShape(s.limitBodies(h)))
}

// anonymousViewer is who a credential-less request is in the demo.
var anonymousViewer = auth.Principal{Kind: auth.KindUser, ID: "anonymous", Name: "anonymous", Role: auth.RoleViewer,
	Sites: []string{auth.AllSitesWildcard}}

// anonymousReader serves GETs without a session cookie or Authorization header as anonymousViewer, straight to
// the router (whose per-route checks still apply); everything else goes through authentication.
func anonymousReader(authenticated, router http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie(auth.SessionCookie); r.Method == http.MethodGet && err != nil && r.Header.Get("Authorization") == "" {
			router.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), anonymousViewer)))
			return
		}
		authenticated.ServeHTTP(w, r)
	})
}

// Router is where every route is registered (for the access matrix test).
func (s *Server) Router() *auth.Router { return s.router }

// Rules are the access rules of every route the server registered itself (auth's and audit's routes have
// their own: auth.Routes and the audit rule).
func (s *Server) Rules() []auth.RouteRule { return s.rules }

// Start binds the listener and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("http: listen on %s: %w", s.cfg.Listen, err)
	}
	lim := newLimitListener(ln, s.cfg.Limits, s.connsRejected, s.connsEvicted, s.log)
	s.limitLn.Store(lim)
	ln = lim
	s.ln.Store(&ln)
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.Limits.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.Limits.IdleTimeout,
		ConnState:         lim.connState, // which connections are idle, for the connection caps
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return s.base },
	}
	go func() {
		defer close(s.done)
		var err error
		if s.cfg.TLSCertFile != "" {
			s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			err = s.srv.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		} else {
			err = s.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errRun = err
			s.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the bound address (after Start).
func (s *Server) Addr() string {
	ln := s.ln.Load()
	if ln == nil {
		return s.cfg.Listen
	}
	return (*ln).Addr().String()
}

// Close stops the server: streams end at once, other requests get the shutdown timeout to finish, then their
// contexts are cancelled and Close waits for every handler to return, so the stores can close after it. It is
// safe to call twice.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.stopStreams()
		if s.srv == nil {
			close(s.done)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if err = s.srv.Shutdown(ctx); err != nil {
			s.cancelBase()
			err = s.srv.Close()
		}
		s.cancelBase()
		<-s.done
		s.inflight.Wait()
	})
	return err
}

// streamRequest is r with a context that also ends when the server starts to close.
func (s *Server) streamRequest(r *http.Request) (*http.Request, func()) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.streams, cancel)
	return r.WithContext(ctx), func() { stop(); cancel() }
}

// handle registers h for rule's route behind the rule's access check, and remembers the rule.
func (s *Server) handle(rule auth.RouteRule, h http.Handler) {
	s.rules = append(s.rules, rule)
	if rule.AllSites {
		h = requireAllSites(h)
	}
	if s.deps.Auth != nil && !rule.Public {
		h = s.deps.Auth.Require(rule.Action, h)
	}
	s.router.Handle(rule.Key(), h)
}

func (s *Server) handleFunc(rule auth.RouteRule, f http.HandlerFunc) { s.handle(rule, f) }

// promRoutes are the Prometheus API routes (promapi.Routes), all reads (POST is Prometheus' form encoding of a
// query, not a change).
var promRoutes = promapi.Routes()

// promRule is the access rule of a Prometheus API route: read for queries, rules, alerts and the rest, whose
// data the API scopes to the principal's sites itself; the status endpoints describe every site (series
// counts, flags, process), so they need the self-metrics permission and every site, and the running
// configuration (accounts, cameras and receivers of every site, secrets redacted) is for admins only.
func promRule(route string) auth.RouteRule {
	method, pattern, _ := strings.Cut(route, " ")
	switch {
	case route == "GET /api/v1/status/config":
		return auth.RouteRule{Method: method, Pattern: pattern, Action: auth.ActionManageUsers, AllSites: true}
	case slices.Contains(promapi.StatusRoutes, route):
		return auth.RouteRule{Method: method, Pattern: pattern, Action: auth.ActionReadMetrics, AllSites: true}
	}
	return auth.RouteRule{Method: method, Pattern: pattern, Action: auth.ActionRead}
}

func (s *Server) routes() {
	public := func(method, pattern string) auth.RouteRule {
		return auth.RouteRule{Method: method, Pattern: pattern, Public: true}
	}
	read := auth.RouteRule{Action: auth.ActionRead}
	s.handleFunc(public("GET", "/healthz"), func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handleFunc(public("GET", "/readyz"), s.readyz)
	if s.deps.Gatherer != nil {
		s.handle(auth.RouteRule{Method: "GET", Pattern: "/metrics", Action: auth.ActionReadMetrics, AllSites: true},
			promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	}
	if s.deps.Ingest != nil {
		s.handleFunc(with(read, "GET", "/api/devices", false), s.devices)
		s.handleFunc(with(read, "GET", "/api/devices/{id...}", true), s.device)
		// Rejected payloads are not tied to a site the pipeline could check (the topic may name none): they are
		// diagnostics for those who see every site.
		s.handleFunc(auth.RouteRule{Method: "GET", Pattern: "/api/ingest/rejected", Action: auth.ActionReadMetrics, AllSites: true}, s.rejected)
	}
	if s.deps.Cameras != nil {
		s.handleFunc(with(read, "GET", "/api/cameras", false), s.cameraList)
		s.handleFunc(with(read, "GET", "/api/cameras/{id}", true), s.camera)
	}
	s.alertRoutes()
	s.mediaRoutes()
	s.evidenceRoutes()
	for _, rt := range s.deps.Routes {
		s.handle(rt.Rule, rt.Handler)
	}
	s.handle(auth.RouteRule{Method: "GET", Pattern: "/api/openapi.json", Action: auth.ActionSelf}, openapi.Handler())
	if s.deps.Live != nil {
		s.handleFunc(with(read, "GET", "/api/events", false), s.limitStreams(func(w http.ResponseWriter, r *http.Request) {
			r, done := s.streamRequest(r)
			defer done()
			s.deps.Live.Serve(w, r, s.siteFilter(r))
		}))
	}
	if s.deps.PromAPI != nil {
		prom := http.NewServeMux()
		s.deps.PromAPI.Register(prom)
		h := http.Handler(prom)
		for _, p := range promRoutes {
			s.handle(promRule(p), h)
		}
		// Unknown /api/v1 paths and wrong methods: the API answers 404 not_found or 405 in Prometheus' shape.
		s.handle(auth.RouteRule{Pattern: "/api/v1/", Action: auth.ActionSelf, OK: http.StatusNotFound}, h)
	}
	if s.deps.Auth != nil {
		s.deps.Auth.Register(s.router)
		if s.deps.Audit != nil {
			s.deps.Audit.Register(s.router, s.deps.Auth.Wrap(auth.ActionReadAudit))
		}
	}
	web := webSite()
	s.handle(public("GET", "/login"), web.page("login.html"))
	s.handle(with(auth.RouteRule{Action: auth.ActionSelf}, "GET", "/{$}", false), withImgSources(web.page("index.html"), s.cfg.Plans.ImgSources))
	// /ui/ itself lists nothing: the matrix's probe of the pattern gets a 404, the files under it a 200.
	s.handle(auth.RouteRule{Method: "GET", Pattern: "/ui/", Public: true, OK: http.StatusNotFound}, web.assets())
	s.handleFunc(auth.RouteRule{Pattern: "/", Action: auth.ActionSelf, OK: http.StatusNotFound}, func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "not found", r.URL.Path)
	})
}

// requireAllSites answers 403 to principals limited to some sites (without access control, everyone passes).
func requireAllSites(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := auth.FromContext(r.Context()); ok && !p.AllSites() {
			WriteError(w, http.StatusForbidden, "forbidden: this route serves data of every site", nil)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// with is rule for method and pattern, site-scoped or not.
func with(rule auth.RouteRule, method, pattern string, siteScoped bool) auth.RouteRule {
	rule.Method, rule.Pattern, rule.SiteScoped = method, pattern, siteScoped
	return rule
}

// statusRecorder remembers the status code for the request counter.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush lets streaming handlers (SSE) flush through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets WebSocket upgrades (live view) take over the connection through the recorder.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("http: connection cannot be hijacked")
	}
	r.code = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		_, pattern := s.router.Handler(r)
		if pattern == "/" {
			pattern = "unmatched" // keep label values bounded: never the raw path
		}
		s.reqs.WithLabelValues(pattern, fmt.Sprintf("%dxx", rec.code/100)).Inc()
	})
}
