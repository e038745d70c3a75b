// Package promapi serves the Prometheus HTTP query API (/api/v1/query, query_range, series, labels, label
// values, and the status endpoints Grafana probes) over any storage.Queryable, with the same parameters,
// JSON shapes, error types and status codes as Prometheus, so Grafana's Prometheus data source and promtool
// work against citywatch unchanged.
package promapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"
)

// Defaults applied by New to zero Options fields.
const (
	// DefaultTimeout is the longest a query may run.
	DefaultTimeout = 2 * time.Minute
	// DefaultMaxSamples is the most samples a query may hold in memory at once.
	DefaultMaxSamples = 50_000_000
	// DefaultLookbackDelta is how far back an instant selector looks for the latest sample.
	DefaultLookbackDelta = 5 * time.Minute
	// subqueryStep is the step of a subquery without one ("x[1h:]"): Prometheus' default evaluation interval.
	subqueryStep = time.Minute
)

// BuildVersion is the Prometheus version /api/v1/status/buildinfo reports, so clients that adapt to the server
// (Grafana) use the Prometheus 3 API this package implements.
const BuildVersion = "3.0.0"

// Options configures the API.
type Options struct {
	// Timeout is the longest a query may run; a request's own timeout parameter can only shorten it. It
	// defaults to 2m.
	Timeout time.Duration
	// MaxSamples is the most samples a single query may load into memory. It defaults to 50e6.
	MaxSamples int
	// LookbackDelta is how far back instant selectors look for a sample. It defaults to 5m.
	LookbackDelta time.Duration
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the citywatch_promapi_* metrics and the PromQL engine's metrics (prefixed
	// "citywatch_"); nil registers nothing.
	Registerer prometheus.Registerer
}

// API is the Prometheus-compatible query API. It is safe for concurrent use.
type API struct {
	q       storage.Queryable
	engine  *promql.Engine
	parser  parser.Parser
	logger  *slog.Logger
	metrics *metrics
	now     func() time.Time
}

// New returns an API that answers queries from q.
func New(q storage.Queryable, opts Options) (*API, error) {
	if q == nil {
		return nil, errors.New("promapi: a queryable storage is required")
	}
	if opts.Timeout < 0 || opts.MaxSamples < 0 || opts.LookbackDelta < 0 {
		return nil, fmt.Errorf("promapi: timeout, max samples and lookback delta must not be negative, got %s, %d, %s",
			opts.Timeout, opts.MaxSamples, opts.LookbackDelta)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxSamples == 0 {
		opts.MaxSamples = DefaultMaxSamples
	}
	if opts.LookbackDelta == 0 {
		opts.LookbackDelta = DefaultLookbackDelta
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	logger = logger.With("component", "promapi")

	p := parser.NewParser(parser.Options{})
	var engineReg *safeRegisterer
	eopts := promql.EngineOpts{
		Logger:        logger,
		MaxSamples:    opts.MaxSamples,
		Timeout:       opts.Timeout,
		LookbackDelta: opts.LookbackDelta,
		NoStepSubqueryIntervalFn: func(int64) int64 {
			return subqueryStep.Milliseconds()
		},
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		EnablePerStepStats:   true,
		Parser:               p,
	}
	if opts.Registerer != nil {
		engineReg = &safeRegisterer{Registerer: prometheus.WrapRegistererWithPrefix("citywatch_", opts.Registerer)}
		eopts.Reg = engineReg
	}
	engine := promql.NewEngine(eopts)
	if engineReg != nil && engineReg.err != nil {
		return nil, fmt.Errorf("promapi: register PromQL engine metrics: %w", engineReg.err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &API{q: q, engine: engine, parser: p, logger: logger, metrics: m, now: time.Now}, nil
}

// Engine returns the PromQL engine, for other components (rules) to evaluate queries with the same limits.
func (a *API) Engine() *promql.Engine { return a.engine }

// Query evaluates expr at ts and returns its value (a promql.Vector, Scalar, Matrix or String). The value is
// the caller's: it stays valid after the call.
func (a *API) Query(ctx context.Context, expr string, ts time.Time) (parser.Value, error) {
	qry, err := a.engine.NewInstantQuery(ctx, a.q, nil, expr, ts)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	return copyValue(res.Value), nil
}

// copyValue deep-copies the parts of a query result that the engine recycles on Close.
func copyValue(v parser.Value) parser.Value {
	switch v := v.(type) {
	case promql.Matrix:
		out := make(promql.Matrix, len(v))
		for i, s := range v {
			out[i] = promql.Series{Metric: s.Metric, Floats: slices.Clone(s.Floats), Histograms: slices.Clone(s.Histograms), DropName: s.DropName}
		}
		return out
	case promql.Vector:
		return slices.Clone(v)
	}
	return v
}

// Register adds the API's routes to mux: GET and POST /api/v1/query, /api/v1/query_range, /api/v1/series,
// /api/v1/labels, /api/v1/label/{name}/values, /api/v1/query_exemplars, and GET /api/v1/status/buildinfo and
// /api/v1/metadata. Authentication is the caller's (wrap the mux).
func (a *API) Register(mux *http.ServeMux) {
	routes := []struct {
		path string
		name string
		f    apiFunc
		post bool
	}{
		{"/api/v1/query", "query", a.query, true},
		{"/api/v1/query_range", "query_range", a.queryRange, true},
		{"/api/v1/series", "series", a.series, true},
		{"/api/v1/labels", "labels", a.labelNames, true},
		{"/api/v1/label/{name}/values", "label_values", a.labelValues, true},
		{"/api/v1/query_exemplars", "query_exemplars", a.queryExemplars, true},
		{"/api/v1/status/buildinfo", "buildinfo", a.buildInfo, false},
		{"/api/v1/metadata", "metadata", a.metadata, false},
	}
	for _, rt := range routes {
		h := a.wrap(rt.name, rt.f)
		mux.Handle("GET "+rt.path, h)
		if rt.post {
			mux.Handle("POST "+rt.path, h)
		}
	}
}

// Error types of the error envelope, as in Prometheus.
const (
	errorTimeout  = "timeout"
	errorCanceled = "canceled"
	errorExec     = "execution"
	errorBadData  = "bad_data"
	errorInternal = "internal"
)

// statusClientClosedRequest is nginx's non-standard status for a client that went away, which Prometheus
// uses for canceled queries.
const statusClientClosedRequest = 499

type apiError struct {
	typ string
	err error
}

func (e *apiError) Error() string { return e.typ + ": " + e.err.Error() }

// statusCode maps an error type to an HTTP status as Prometheus does.
func (e *apiError) statusCode() int {
	switch e.typ {
	case errorBadData:
		return http.StatusBadRequest
	case errorExec:
		return http.StatusUnprocessableEntity
	case errorCanceled:
		return statusClientClosedRequest
	case errorTimeout:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func invalidParam(err error, name string) *apiError {
	return &apiError{errorBadData, fmt.Errorf("invalid parameter %q: %w", name, err)}
}

// apiResult is what a handler returns: data or an error, warnings, and a finalizer run after the response
// is written (query results are pooled by the engine until then).
type apiResult struct {
	data      any
	err       *apiError
	warnings  annotations.Annotations
	finalizer func()
}

type apiFunc func(r *http.Request) apiResult

func (a *API) wrap(name string, f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := a.serve(w, r, f)
		a.metrics.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		a.metrics.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	})
}

// serve runs f and writes its answer; it returns the status code written.
func (a *API) serve(w http.ResponseWriter, r *http.Request, f apiFunc) (code int) {
	defer func() {
		if p := recover(); p != nil {
			a.logger.Error("panic while serving query API", "path", r.URL.Path, "panic", p)
			code = a.respondError(w, &apiError{errorInternal, fmt.Errorf("internal error: %v", p)}, nil)
		}
	}()
	if err := r.ParseForm(); err != nil {
		return a.respondError(w, &apiError{errorBadData, fmt.Errorf("error parsing form values: %w", err)}, nil)
	}
	res := f(r)
	if res.finalizer != nil {
		defer res.finalizer()
	}
	query := r.Form.Get("query")
	warnings, infos := res.warnings.AsStrings(query, 10, 10)
	if res.err != nil {
		if res.err.typ == errorInternal || res.err.typ == errorExec {
			a.logger.Warn("query failed", "path", r.URL.Path, "query", query, "err", res.err.err)
		}
		return a.respondError(w, res.err, warnings)
	}
	body, err := encodeSuccess(nil, res.data, warnings, infos)
	if err != nil {
		a.logger.Error("encode query API response", "path", r.URL.Path, "err", err)
		return a.respondError(w, &apiError{errorInternal, fmt.Errorf("encode response: %w", err)}, nil)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		a.logger.Debug("write query API response", "path", r.URL.Path, "err", err)
	}
	return http.StatusOK
}

func (a *API) respondError(w http.ResponseWriter, e *apiError, warnings []string) int {
	body := encodeError(e.typ, e.err.Error(), warnings)
	code := e.statusCode()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
	return code
}

// returnAPIError classifies a query or storage error as Prometheus does.
func returnAPIError(err error) *apiError {
	var (
		eqc promql.ErrQueryCanceled
		eqt promql.ErrQueryTimeout
		es  promql.ErrStorage
	)
	switch {
	case errors.As(err, &eqc):
		return &apiError{errorCanceled, err}
	case errors.As(err, &eqt):
		return &apiError{errorTimeout, err}
	case errors.As(err, &es):
		return &apiError{errorInternal, err}
	case errors.Is(err, context.Canceled):
		return &apiError{errorCanceled, err}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{errorTimeout, err}
	}
	return &apiError{errorExec, err}
}

// constructionError classifies an error from building a query: a timeout or cancellation while waiting, or
// else a bad query.
func constructionError(err error) *apiError {
	var (
		eqc promql.ErrQueryCanceled
		eqt promql.ErrQueryTimeout
	)
	if errors.As(err, &eqc) || errors.As(err, &eqt) {
		return returnAPIError(err)
	}
	return invalidParam(err, "query")
}

// queryOpts reads the per-query options: lookback_delta, per-step stats, and the start-timestamp header.
func queryOpts(r *http.Request) (promql.QueryOpts, error) {
	var lookback time.Duration
	if s := r.Form.Get("lookback_delta"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("error parsing lookback delta duration: %w", err)
		}
		lookback = d
	}
	var useST *bool
	if v := r.Header.Get("X-Prometheus-Use-Start-Timestamps"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("error parsing X-Prometheus-Use-Start-Timestamps header: %w", err)
		}
		useST = &b
	}
	return promql.NewPrometheusQueryOpts(r.Form.Get("stats") == "all", lookback, useST), nil
}

// withTimeout applies the request's timeout parameter to ctx.
func withTimeout(ctx context.Context, r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	timeout, apiErr := parseTimeout(r.Form.Get("timeout"))
	if apiErr != nil {
		return ctx, func() {}, apiErr
	}
	if timeout == 0 {
		return ctx, func() {}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, cancel, nil
}

func (a *API) query(r *http.Request) apiResult {
	limit, err := parseLimit(r.Form.Get("limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	ts, err := parseTimeParam(r, "time", a.now())
	if err != nil {
		return apiResult{err: invalidParam(err, "time")}
	}
	ctx, cancel, apiErr := withTimeout(r.Context(), r)
	defer cancel()
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	opts, err := queryOpts(r)
	if err != nil {
		return apiResult{err: &apiError{errorBadData, err}}
	}
	qry, err := a.engine.NewInstantQuery(ctx, a.q, opts, r.Form.Get("query"), ts)
	if err != nil {
		return apiResult{err: constructionError(err)}
	}
	return a.exec(ctx, r, qry, limit)
}

func (a *API) queryRange(r *http.Request) apiResult {
	limit, err := parseLimit(r.Form.Get("limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	p, apiErr := parseRange(r.Form.Get("start"), r.Form.Get("end"), r.Form.Get("step"))
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	ctx, cancel, apiErr := withTimeout(r.Context(), r)
	defer cancel()
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	opts, err := queryOpts(r)
	if err != nil {
		return apiResult{err: &apiError{errorBadData, err}}
	}
	qry, err := a.engine.NewRangeQuery(ctx, a.q, opts, r.Form.Get("query"), p.start, p.end, p.step)
	if err != nil {
		return apiResult{err: constructionError(err)}
	}
	return a.exec(ctx, r, qry, limit)
}

// exec runs a built query; the query is closed by the result's finalizer, after the response is written.
func (a *API) exec(ctx context.Context, r *http.Request, qry promql.Query, limit int) apiResult {
	res := qry.Exec(ctx)
	if res.Err != nil {
		return apiResult{err: returnAPIError(res.Err), warnings: res.Warnings, finalizer: qry.Close}
	}
	warnings := res.Warnings
	value := res.Value
	if limit > 0 {
		switch v := value.(type) {
		case promql.Matrix:
			if len(v) > limit {
				value = v[:limit]
				warnings = warnings.Add(errors.New("results truncated due to limit"))
			}
		case promql.Vector:
			if len(v) > limit {
				value = v[:limit]
				warnings = warnings.Add(errors.New("results truncated due to limit"))
			}
		}
	}
	data := &queryData{result: value}
	switch s := r.Form.Get("stats"); s {
	case "":
	case "true", "all":
		data.stats = stats.NewQueryStats(qry.Stats())
	default:
		data.stats = stats.NewQueryStats(qry.Stats())
		warnings = warnings.Add(fmt.Errorf("value %q for parameter \"stats\" is deprecated and will be rejected in the next major release, use %q or %q", s, "true", "all"))
	}
	return apiResult{data: data, warnings: warnings, finalizer: qry.Close}
}

// timeRange parses the optional start and end of the metadata endpoints.
func timeRange(r *http.Request) (start, end time.Time, apiErr *apiError) {
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return start, end, invalidParam(err, "start")
	}
	end, err = parseTimeParam(r, "end", maxTime)
	if err != nil {
		return start, end, invalidParam(err, "end")
	}
	return start, end, nil
}

func (a *API) series(r *http.Request) apiResult {
	if len(r.Form["match[]"]) == 0 {
		return apiResult{err: &apiError{errorBadData, errors.New("no match[] parameter provided")}}
	}
	limit, err := parseLimit(r.Form.Get("limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	start, end, apiErr := timeRange(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	sets, err := parseMatchers(a.parser, r.Form["match[]"])
	if err != nil {
		return apiResult{err: invalidParam(err, "match[]")}
	}
	ctx := r.Context()
	q, err := a.q.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return apiResult{err: returnAPIError(err)}
	}
	closer := func() { _ = q.Close() }
	hints := &storage.SelectHints{
		Start: timestamp.FromTime(start),
		End:   timestamp.FromTime(end),
		Func:  "series", // No samples needed.
		Limit: toHintLimit(limit),
	}
	var set storage.SeriesSet
	if len(sets) > 1 {
		var all []storage.SeriesSet
		for _, ms := range sets {
			all = append(all, q.Select(ctx, true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(all, 0, storage.ChainedSeriesMerge)
	} else {
		set = q.Select(ctx, false, hints, sets[0]...)
	}
	metrics := []labels.Labels{}
	warnings := set.Warnings()
	for i := 1; set.Next(); i++ {
		if i%128 == 0 {
			if err := ctx.Err(); err != nil {
				return apiResult{err: returnAPIError(err), warnings: warnings, finalizer: closer}
			}
		}
		metrics = append(metrics, set.At().Labels())
		if limit > 0 && len(metrics) > limit {
			metrics = metrics[:limit]
			warnings = warnings.Add(errors.New("results truncated due to limit"))
			return apiResult{data: metrics, warnings: warnings, finalizer: closer}
		}
	}
	if err := set.Err(); err != nil {
		return apiResult{err: returnAPIError(err), warnings: warnings, finalizer: closer}
	}
	return apiResult{data: metrics, warnings: warnings, finalizer: closer}
}

func (a *API) labelNames(r *http.Request) apiResult {
	return a.labelStrings(r, returnAPIError, func(q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(r.Context(), hints, ms...)
	})
}

func (a *API) labelValues(r *http.Request) apiResult {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return apiResult{err: &apiError{errorBadData, fmt.Errorf("invalid label name: %q", name)}}
	}
	querierErr := func(err error) *apiError { return &apiError{errorExec, err} }
	return a.labelStrings(r, querierErr, func(q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(r.Context(), name, hints, ms...)
	})
}

// labelStrings serves /labels and /label/{name}/values: the limit, time range and match[] parameters, one
// querier, the union of get over the matcher sets, and the limit's truncation warning. querierErr maps a
// failure to open the querier the way Prometheus does for that endpoint.
func (a *API) labelStrings(r *http.Request, querierErr func(error) *apiError,
	get func(q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error)) apiResult {
	limit, err := parseLimit(r.Form.Get("limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	start, end, apiErr := timeRange(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	sets, err := parseMatchers(a.parser, r.Form["match[]"])
	if err != nil {
		return apiResult{err: &apiError{errorBadData, err}}
	}
	q, err := a.q.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return apiResult{err: querierErr(err)}
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: toHintLimit(limit)}
	vals, warnings, apiErr := collectStrings(sets, func(ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return get(q, hints, ms...)
	})
	if apiErr != nil {
		return apiResult{err: apiErr, warnings: warnings}
	}
	if limit > 0 && len(vals) > limit {
		vals = vals[:limit]
		warnings = warnings.Add(errors.New("results truncated due to limit"))
	}
	return apiResult{data: vals, warnings: warnings}
}

// collectStrings calls get once per matcher set (or once without matchers) and returns the sorted union.
func collectStrings(sets [][]*labels.Matcher, get func(...*labels.Matcher) ([]string, annotations.Annotations, error)) ([]string, annotations.Annotations, *apiError) {
	var warnings annotations.Annotations
	if len(sets) <= 1 {
		var ms []*labels.Matcher
		if len(sets) == 1 {
			ms = sets[0]
		}
		vals, w, err := get(ms...)
		warnings.Merge(w)
		if err != nil {
			return nil, warnings, &apiError{errorExec, err}
		}
		vals = slices.Clone(vals)
		slices.Sort(vals)
		if vals == nil {
			vals = []string{}
		}
		return vals, warnings, nil
	}
	set := map[string]struct{}{}
	for _, ms := range sets {
		vals, w, err := get(ms...)
		warnings.Merge(w)
		if err != nil {
			return nil, warnings, &apiError{errorExec, err}
		}
		for _, v := range vals {
			set[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	return out, warnings, nil
}

// queryExemplars validates like Prometheus and answers with no exemplars: citywatch stores none.
func (a *API) queryExemplars(r *http.Request) apiResult {
	start, end, apiErr := timeRange(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	if end.Before(start) {
		return apiResult{err: &apiError{errorBadData, errors.New("end timestamp must not be before start timestamp")}}
	}
	if _, err := a.parser.ParseExpr(r.Form.Get("query")); err != nil {
		return apiResult{err: &apiError{errorBadData, err}}
	}
	return apiResult{data: exemplarsData{}}
}

// buildInfoData is the answer of /api/v1/status/buildinfo.
type buildInfoData struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

func (a *API) buildInfo(*http.Request) apiResult {
	return apiResult{data: buildInfoData{
		Version:   BuildVersion,
		Revision:  "citywatch",
		Branch:    "",
		BuildUser: "citywatch",
		BuildDate: "",
		GoVersion: runtime.Version(),
	}}
}

// metadata validates like Prometheus and answers with no metric metadata: citywatch keeps none.
func (a *API) metadata(r *http.Request) apiResult {
	if s := r.Form.Get("limit"); s != "" {
		if _, err := strconv.Atoi(s); err != nil {
			return apiResult{err: &apiError{errorBadData, errors.New("limit must be a number")}}
		}
	}
	if s := r.Form.Get("limit_per_metric"); s != "" {
		if _, err := strconv.Atoi(s); err != nil {
			return apiResult{err: &apiError{errorBadData, errors.New("limit_per_metric must be a number")}}
		}
	}
	return apiResult{data: map[string][]struct{}{}}
}
