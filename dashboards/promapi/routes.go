package promapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// route is one endpoint of the API and the methods Prometheus accepts for it (web/api/v1/api.go Register):
// queries and the parser endpoints take GET and POST (a form), everything else GET only.
type route struct {
	path string
	name string
	f    apiFunc
	post bool
}

// routes are every endpoint Register serves, in Prometheus' order.
func (a *API) routes() []route {
	return []route{
		{"/api/v1/query", "query", a.query, true},
		{"/api/v1/query_range", "query_range", a.queryRange, true},
		{"/api/v1/query_exemplars", "query_exemplars", a.queryExemplars, true},
		{"/api/v1/format_query", "format_query", a.formatQuery, true},
		{"/api/v1/parse_query", "parse_query", a.parseQuery, true},
		{"/api/v1/labels", "labels", a.labelNames, true},
		{"/api/v1/label/{name}/values", "label_values", a.labelValues, false},
		{"/api/v1/series", "series", a.series, true},
		{"/api/v1/targets", "targets", a.targets, false},
		{"/api/v1/targets/metadata", "targets_metadata", a.targetsMetadata, false},
		{"/api/v1/alertmanagers", "alertmanagers", a.alertmanagers, false},
		{"/api/v1/metadata", "metadata", a.metadata, false},
		{"/api/v1/status/config", "config", a.statusConfig, false},
		{"/api/v1/status/runtimeinfo", "runtimeinfo", a.runtimeInfo, false},
		{"/api/v1/status/buildinfo", "buildinfo", a.buildInfo, false},
		{"/api/v1/status/flags", "flags", a.statusFlags, false},
		{"/api/v1/status/tsdb", "tsdb", a.tsdbStatus, false},
		{"/api/v1/alerts", "alerts", a.alerts, false},
		{"/api/v1/rules", "rules", a.rules, false},
	}
}

// Routes are the method and pattern of every route Register adds ("GET /api/v1/query"), except the catch-all
// "/api/v1/" that answers unknown paths and wrong methods; StatusRoutes lists the ones that describe the whole
// server rather than data of a site.
func Routes() []string {
	var a API
	var out []string
	for _, rt := range a.routes() {
		out = append(out, "GET "+rt.path)
		if rt.post {
			out = append(out, "POST "+rt.path)
		}
	}
	return out
}

// StatusRoutes are the routes that describe the whole server (its configuration, flags, process and TSDB
// head) rather than data of a site: they answer only principals who see every site.
var StatusRoutes = []string{
	"GET /api/v1/status/config", "GET /api/v1/status/runtimeinfo", "GET /api/v1/status/flags", "GET /api/v1/status/tsdb",
}

// registerRoutes adds routes to mux, and "/api/v1/" for everything else: Prometheus' error shape with 404
// not_found for an unknown path and 405 with an Allow header for a known path asked with another method.
// (Prometheus' router answers those two in plain text; clients parse the JSON envelope of every /api/v1
// answer, so citywatch keeps to it.)
func (a *API) registerRoutes(mux *http.ServeMux, routes []route) {
	paths := http.NewServeMux()
	allow := map[string]string{}
	for _, rt := range routes {
		h := a.wrap(rt.name, rt.f)
		mux.Handle("GET "+rt.path, h)
		allow[rt.path] = "GET"
		if rt.post {
			mux.Handle("POST "+rt.path, h)
			allow[rt.path] = "GET, POST"
		}
		paths.Handle(rt.path, http.NotFoundHandler())
	}
	mux.Handle("/api/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code, limited := a.rateLimited(w, r)
		if !limited {
			code = a.unmatched(w, r, paths, allow)
		}
		a.metrics.requests.WithLabelValues("unmatched", strconv.Itoa(code)).Inc()
		a.metrics.duration.WithLabelValues("unmatched").Observe(time.Since(start).Seconds())
	}))
}

// unmatched answers a request no route took; it returns the status code written.
func (a *API) unmatched(w http.ResponseWriter, r *http.Request, paths *http.ServeMux, allow map[string]string) int {
	_, pattern := paths.Handler(r)
	methods, known := allow[pattern]
	switch {
	case !known:
		return WriteError(w, http.StatusNotFound, ErrorNotFound, fmt.Sprintf("no API endpoint %s", r.URL.Path))
	case r.Method == http.MethodOptions:
		// Prometheus answers OPTIONS on every path with 204 (a CORS preflight).
		w.Header().Set("Allow", methods+", OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	w.Header().Set("Allow", methods)
	return WriteError(w, http.StatusMethodNotAllowed, ErrorMethodNotAllowed,
		fmt.Sprintf("method %s not allowed for %s (allowed: %s)", r.Method, r.URL.Path, methods))
}

// Error types of answers outside query evaluation. Prometheus uses not_found for unknown things; it has no
// type for 401, 403 and 405 (its router answers those in plain text), so citywatch names them.
const (
	ErrorNotFound         = "not_found"
	ErrorMethodNotAllowed = "method_not_allowed"
	ErrorUnauthorized     = "unauthorized"
	ErrorForbidden        = "forbidden"
	ErrorBadData          = errorBadData
	ErrorInternal         = errorInternal
	ErrorUnavailable      = errorUnavailable
)

// ErrorType is the Prometheus error type citywatch gives an HTTP status outside query evaluation (the REST
// layer's 401, 403, 404, 405, 413 and 429 on /api/v1 paths).
func ErrorType(code int) string {
	switch {
	case code == http.StatusUnauthorized:
		return ErrorUnauthorized
	case code == http.StatusForbidden:
		return ErrorForbidden
	case code == http.StatusNotFound:
		return ErrorNotFound
	case code == http.StatusMethodNotAllowed:
		return ErrorMethodNotAllowed
	case code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests:
		return ErrorUnavailable
	case code >= 500:
		return ErrorInternal
	}
	return ErrorBadData
}

// WriteError writes Prometheus' error envelope {"status":"error","errorType":...,"error":...} with code and
// returns code. The REST layer uses it for the answers it gives on /api/v1 paths itself (authentication,
// authorization, body limits), so every /api/v1 answer has one shape.
func WriteError(w http.ResponseWriter, code int, errType, msg string) int {
	body := encodeError(errType, msg, nil)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
	return code
}

// IsErrorEnvelope reports whether body is already a Prometheus error envelope.
func IsErrorEnvelope(body []byte) bool {
	return strings.HasPrefix(string(body), `{"status":"error"`)
}
