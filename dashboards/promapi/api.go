// Package promapi serves the Prometheus HTTP query API (/api/v1/query, query_range, series, labels, label
// values, and the status endpoints Grafana probes) over any storage.Queryable, with the same parameters,
// JSON shapes, error types and status codes as Prometheus, so Grafana's Prometheus data source and promtool
// work against citywatch unchanged.
package promapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
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

	"citywatch/internal/logx"
)

// Defaults applied by New to zero Options fields. The memory arithmetic behind DefaultMaxSamples and
// DefaultMaxConcurrentCap is in docs/configuration.md (http.query).
const (
	// DefaultTimeout is the longest a query may run.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxSamples is the most samples a query may hold in memory at once: with
	// DefaultMaxConcurrentCap queries at this limit, queries hold under 1 GiB (BytesPerSample).
	DefaultMaxSamples = 1_000_000
	// BytesPerSample bounds what one sample a query holds costs the heap, garbage not yet collected included:
	// the engine's points, the result and its JSON answer. TestSampleCost measures about 80 for a range
	// query's matrix answered as JSON; 128 leaves margin.
	BytesPerSample = 128
	// DefaultMaxConcurrentCap caps the default concurrency (2 per core) so the default budget stays within
	// 1 GiB on machines with many cores: 8 × DefaultMaxSamples × BytesPerSample = 1.02e9 bytes < 1 GiB.
	DefaultMaxConcurrentCap = 8
	// DefaultQueueWait is how long a query waits for a free slot before a 503.
	DefaultQueueWait = 2 * time.Second
	// DefaultMaxPoints is the most points per series of a range query or of one subquery, as Prometheus caps
	// range queries.
	DefaultMaxPoints = 11_000
	// DefaultMinStep is the smallest range-query and subquery step.
	DefaultMinStep = time.Second
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
	// defaults to 30s.
	Timeout time.Duration
	// WriteTimeout is the longest writing one answer to the client may take. A query holds its slot (and its
	// result) until the answer is written, so a client that does not read would otherwise hold it for ever; past
	// the deadline the write fails and the slot is given back. It defaults to Timeout.
	WriteTimeout time.Duration
	// MaxSamples is the most samples a single query may load into memory; past it the query fails with 422.
	// It defaults to 1e6.
	MaxSamples int
	// MaxConcurrent is how many queries (query, query_range, series, labels, label values) run at once. It
	// defaults to 2 × GOMAXPROCS, at most DefaultMaxConcurrentCap.
	MaxConcurrent int
	// MaxConcurrentPerClient is how many of the MaxConcurrent slots one client (ClientKey) may hold, so one
	// client looping expensive queries leaves the others a slot and, with the default MaxConcurrent, half the
	// cores. It defaults to a quarter of MaxConcurrent, at least 1.
	MaxConcurrentPerClient int
	// ClientKey names the client of a request for MaxConcurrentPerClient (the authenticated principal, or
	// the client address); nil puts every request under one key, so only MaxConcurrent applies.
	ClientKey func(*http.Request) string
	// QueueWait is how long a query waits for one of the MaxConcurrent slots before it is answered 503 with
	// Retry-After. It defaults to 2s.
	QueueWait time.Duration
	// RatePerClient is how many requests per second one client (ClientKey) may send to any /api/v1 endpoint,
	// refused ones included, sustained; past it and its BurstPerClient the request is answered 429 with
	// Retry-After (ratelimit.go). It defaults to DefaultRatePerClient.
	RatePerClient float64
	// BurstPerClient is how many requests one client may send at once above RatePerClient. It defaults to
	// DefaultBurstPerClient.
	BurstPerClient int
	// MaxPoints is the most points per series of a range query ((end-start)/step) and of one subquery
	// (range/step). It defaults to 11000, Prometheus' range query limit.
	MaxPoints int
	// MinStep is the smallest step of a range query and of a subquery. It defaults to 1s.
	MinStep time.Duration
	// LookbackDelta is how far back instant selectors look for a sample. It defaults to 5m.
	LookbackDelta time.Duration
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the citywatch_promapi_* metrics and the PromQL engine's metrics (prefixed
	// "citywatch_"); nil registers nothing.
	Registerer prometheus.Registerer
	// Rules gives /api/v1/rules and /api/v1/alerts their rules and alerts; nil serves none.
	Rules RuleSource
	// Status is what the status endpoints report (status.go).
	Status Status
}

// API is the Prometheus-compatible query API. It is safe for concurrent use.
type API struct {
	q       storage.Queryable
	engine  *promql.Engine
	parser  parser.Parser
	logger  *slog.Logger
	metrics *metrics
	now     func() time.Time
	gate    *gate
	limiter *limiter
	client  func(*http.Request) string
	budget  exprBudget
	timeout time.Duration
	// writeTimeout bounds writing one answer (Options.WriteTimeout).
	writeTimeout time.Duration
	// retryAfter is the Retry-After of a 503 for a full gate, in whole seconds.
	retryAfter string
	// remote, when set (NewRemote), answers the queries instead of q, scoped by sites.
	remote Remote
	sites  sitesFunc
	// ruleSource and status serve the rules, alerts and status endpoints.
	ruleSource RuleSource
	status     Status
}

// New returns an API that answers queries from q, confined per request to the sites of the request's
// principal (ScopeToSites): q is the raw storage, and no API reads it unscoped.
func New(q storage.Queryable, opts Options) (*API, error) {
	if q == nil {
		return nil, errors.New("promapi: a queryable storage is required")
	}
	q = ScopeToSites(q)
	if opts.Timeout < 0 || opts.WriteTimeout < 0 || opts.MaxSamples < 0 || opts.LookbackDelta < 0 {
		return nil, fmt.Errorf("promapi: timeout, write timeout, max samples and lookback delta must not be negative, got %s, %s, %d, %s",
			opts.Timeout, opts.WriteTimeout, opts.MaxSamples, opts.LookbackDelta)
	}
	if opts.MaxConcurrent < 0 || opts.MaxConcurrentPerClient < 0 || opts.QueueWait < 0 || opts.MaxPoints < 0 || opts.MinStep < 0 {
		return nil, fmt.Errorf("promapi: max concurrent (per client), queue wait, max points and min step must not be negative, got %d, %d, %s, %d, %s",
			opts.MaxConcurrent, opts.MaxConcurrentPerClient, opts.QueueWait, opts.MaxPoints, opts.MinStep)
	}
	if !(opts.RatePerClient >= 0) || opts.BurstPerClient < 0 {
		return nil, fmt.Errorf("promapi: rate and burst per client must not be negative, got %g, %d", opts.RatePerClient, opts.BurstPerClient)
	}
	opts = opts.withDefaults()
	logger := logx.Component(opts.Logger, "promapi")

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
	g := newGate(opts.MaxConcurrent, opts.MaxConcurrentPerClient, opts.QueueWait)
	m, err := newMetrics(opts.Registerer, g)
	if err != nil {
		return nil, err
	}
	a := &API{q: q, engine: engine, parser: p, logger: logger, metrics: m, now: time.Now,
		gate:         g,
		limiter:      newLimiter(opts.RatePerClient, opts.BurstPerClient, maxRateClients, time.Now),
		client:       opts.ClientKey,
		budget:       exprBudget{minStep: opts.MinStep, maxPoints: int64(opts.MaxPoints)},
		timeout:      opts.Timeout,
		writeTimeout: opts.WriteTimeout,
		retryAfter:   strconv.Itoa(max(1, int(math.Ceil(opts.QueueWait.Seconds())))),
		ruleSource:   opts.Rules,
		status:       opts.Status,
	}
	if a.status.StartTime.IsZero() {
		a.status.StartTime = time.Now()
	}
	return a, nil
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = o.Timeout
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = DefaultMaxConcurrent()
	}
	if o.MaxConcurrentPerClient == 0 {
		o.MaxConcurrentPerClient = max(1, o.MaxConcurrent/4)
	}
	if o.QueueWait == 0 {
		o.QueueWait = DefaultQueueWait
	}
	if o.RatePerClient == 0 {
		o.RatePerClient = DefaultRatePerClient
	}
	if o.BurstPerClient == 0 {
		o.BurstPerClient = DefaultBurstPerClient
	}
	if o.MaxPoints == 0 {
		o.MaxPoints = DefaultMaxPoints
	}
	if o.MinStep == 0 {
		o.MinStep = DefaultMinStep
	}
	if o.LookbackDelta == 0 {
		o.LookbackDelta = DefaultLookbackDelta
	}
	return o
}

// DefaultMaxConcurrent is the default of Options.MaxConcurrent: two queries per core the Go scheduler uses,
// at most DefaultMaxConcurrentCap.
func DefaultMaxConcurrent() int {
	return min(2*runtime.GOMAXPROCS(0), DefaultMaxConcurrentCap)
}

// Engine returns the API's PromQL engine, with the API's MaxSamples and Timeout but without its concurrency
// gate or expression checks. Rule evaluation uses an engine of its own, so a saturated API never delays it.
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

// Register adds the API's routes to mux (routes.go): the query, metadata, rules, alerts, targets, status and
// parser endpoints with the methods Prometheus accepts, and "/api/v1/" answering unknown paths and wrong
// methods in Prometheus' error shape. Authentication is the caller's (wrap the mux).
func (a *API) Register(mux *http.ServeMux) {
	a.registerRoutes(mux, a.routes())
}

// Error types of the error envelope, as in Prometheus.
const (
	errorTimeout  = "timeout"
	errorCanceled = "canceled"
	errorExec     = "execution"
	errorBadData  = "bad_data"
	errorInternal = "internal"
	// errorUnavailable is Prometheus' type for a server that cannot take the query now (503).
	errorUnavailable = "unavailable"
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
	case errorTimeout, errorUnavailable:
		return http.StatusServiceUnavailable
	case ErrorNotFound:
		return http.StatusNotFound
	case ErrorForbidden:
		return http.StatusForbidden
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
	// stream, when set, writes the whole answer (a remote engine's, passed through) and returns its status.
	stream func(http.ResponseWriter) int
}

type apiFunc func(r *http.Request) apiResult

func (a *API) wrap(name string, f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code, limited := a.rateLimited(w, r)
		if !limited {
			code = a.serve(w, r, f)
		}
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
		if reason := rejectReason(res.err.err); reason != "" {
			a.metrics.rejected.WithLabelValues(reason).Inc()
		} else if res.err.typ == errorInternal || res.err.typ == errorExec {
			a.logger.Warn("query failed", "path", r.URL.Path, "query", query, "err", res.err.err)
		}
		return a.respondError(w, res.err, warnings)
	}
	if res.stream != nil {
		endWrite := a.limitWrite(w)
		code := res.stream(w)
		endWrite()
		return code
	}
	body, err := encodeSuccess(nil, res.data, warnings, infos)
	if err != nil {
		a.logger.Error("encode query API response", "path", r.URL.Path, "err", err)
		return a.respondError(w, &apiError{errorInternal, fmt.Errorf("encode response: %w", err)}, nil)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	endWrite := a.limitWrite(w)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		a.logger.Debug("write query API response", "path", r.URL.Path, "err", err)
	}
	endWrite()
	return http.StatusOK
}

// limitWrite puts a deadline of writeTimeout on writing the answer to w: the query's finalizer, which gives
// its slot back, runs only once the answer is written, so without one a client that never reads a large
// answer would hold the slot for ever (the server has no WriteTimeout: answers of any size stream). Past the
// deadline Write fails and the finalizer runs. The returned function flushes what the server still buffers
// under the deadline, then lifts it for the next request on the connection. A writer without deadlines
// (httptest.ResponseRecorder) is written without one.
func (a *API) limitWrite(w http.ResponseWriter) (end func()) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Now().Add(a.writeTimeout)); err != nil {
		return func() {}
	}
	return func() {
		_ = rc.Flush()
		_ = rc.SetWriteDeadline(time.Time{})
	}
}

func (a *API) respondError(w http.ResponseWriter, e *apiError, warnings []string) int {
	body := encodeError(e.typ, e.err.Error(), warnings)
	code := e.statusCode()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if e.typ == errorUnavailable {
		w.Header().Set("Retry-After", a.retryAfter)
	}
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
	return a.evaluate(r, "/api/v1/query", limit, rangeParams{start: ts, end: ts})
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
	return a.evaluate(r, "/api/v1/query_range", limit, p)
}

// evaluate runs r's query over p: at p.start when p.step is 0 (an instant query, path /api/v1/query), else
// from p.start to p.end every p.step. A centre hands it to the remote engine; otherwise it is checked against
// the budget, waits for a slot and runs on the local engine.
func (a *API) evaluate(r *http.Request, path string, limit int, p rangeParams) apiResult {
	ctx, cancel, apiErr := withTimeout(r.Context(), r)
	defer cancel()
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	opts, err := queryOpts(r)
	if err != nil {
		return apiResult{err: &apiError{errorBadData, err}}
	}
	if a.remote != nil {
		return a.remoteQuery(r, path, p.start, p.end, p.step)
	}
	expr := r.Form.Get("query")
	if apiErr := a.check(expr, p.start, p.end, p.step); apiErr != nil {
		return apiResult{err: apiErr}
	}
	release, apiErr := a.admit(ctx, r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	defer releaseOnPanic(release)
	var qry promql.Query
	if p.step == 0 {
		qry, err = a.engine.NewInstantQuery(ctx, a.q, opts, expr, p.start)
	} else {
		qry, err = a.engine.NewRangeQuery(ctx, a.q, opts, expr, p.start, p.end, p.step)
	}
	if err != nil {
		release()
		return apiResult{err: constructionError(err)}
	}
	return a.exec(ctx, r, qry, limit).thenRelease(release)
}

// check parses expr and refuses it as bad_data when it does not parse or its shape exceeds the budget
// (checkQuery), before it takes a slot or allocates anything.
func (a *API) check(expr string, start, end time.Time, step time.Duration) *apiError {
	parsed, err := a.parser.ParseExpr(expr)
	if err != nil {
		return invalidParam(err, "query") // the engine's own parser and message
	}
	err = checkQuery(parsed, start, end, step, a.budget)
	var be *budgetError
	switch {
	case errors.As(err, &be):
		return &apiError{errorBadData, err}
	case err != nil:
		return invalidParam(err, "query") // a duration expression the engine would refuse the same way
	}
	return nil
}

// admit takes one of the concurrent query slots for r's client, or answers 503 unavailable when none frees up
// within the queue wait. The caller runs release once the answer is written.
func (a *API) admit(ctx context.Context, r *http.Request) (release func(), apiErr *apiError) {
	key := ""
	if a.client != nil {
		key = a.client(r)
	}
	release, err := a.gate.enter(ctx, key)
	switch {
	case errors.Is(err, errGateFull):
		return nil, &apiError{errorUnavailable, &budgetError{reasonConcurrency, fmt.Errorf("%d queries are already running; retry later", cap(a.gate.slots))}}
	case errors.Is(err, errClientFull):
		return nil, &apiError{errorUnavailable, &budgetError{reasonConcurrency, fmt.Errorf("%d queries of this client are already running; retry later", a.gate.perKey)}}
	case err != nil:
		return nil, returnAPIError(err)
	}
	return release, nil
}

// releaseOnPanic gives a slot back when the handler panics before its result (and so its finalizer) exists;
// serve recovers the panic. Deferred right after admit.
func releaseOnPanic(release func()) {
	if p := recover(); p != nil {
		release()
		panic(p)
	}
}

// thenRelease runs release after the result's own finalizer, once the answer is written.
func (res apiResult) thenRelease(release func()) apiResult {
	fin := res.finalizer
	res.finalizer = func() {
		if fin != nil {
			fin()
		}
		release()
	}
	return res
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

// limitAndRange parses the limit, start and end of the series and label endpoints.
func limitAndRange(r *http.Request) (limit int, start, end time.Time, apiErr *apiError) {
	limit, err := parseLimit(r.Form.Get("limit"))
	if err != nil {
		return 0, start, end, invalidParam(err, "limit")
	}
	start, end, apiErr = timeRange(r)
	return limit, start, end, apiErr
}

func (a *API) series(r *http.Request) apiResult {
	if len(r.Form["match[]"]) == 0 {
		return apiResult{err: &apiError{errorBadData, errors.New("no match[] parameter provided")}}
	}
	if a.remote != nil {
		return a.remoteSelectors(r, "/api/v1/series")
	}
	limit, start, end, apiErr := limitAndRange(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	sets, err := parseMatchers(a.parser, r.Form["match[]"])
	if err != nil {
		return apiResult{err: invalidParam(err, "match[]")}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	release, apiErr := a.admit(ctx, r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	defer releaseOnPanic(release)
	q, err := a.q.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		release()
		return apiResult{err: returnAPIError(err)}
	}
	closer := func() { _ = q.Close(); release() }
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
	if a.remote != nil {
		return a.remoteSelectors(r, "/api/v1/labels")
	}
	return a.labelStrings(r, returnAPIError, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, hints, ms...)
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
	if a.remote != nil {
		return a.remoteSelectors(r, "/api/v1/label/"+url.PathEscape(name)+"/values")
	}
	querierErr := func(err error) *apiError { return &apiError{errorExec, err} }
	return a.labelStrings(r, querierErr, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, hints, ms...)
	})
}

// labelStrings serves /labels and /label/{name}/values: the limit, time range and match[] parameters, one
// querier, the union of get over the matcher sets, and the limit's truncation warning. querierErr maps a
// failure to open the querier the way Prometheus does for that endpoint.
func (a *API) labelStrings(r *http.Request, querierErr func(error) *apiError,
	get func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error)) apiResult {
	limit, start, end, apiErr := limitAndRange(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	sets, err := parseMatchers(a.parser, r.Form["match[]"])
	if err != nil {
		return apiResult{err: &apiError{errorBadData, err}}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	release, apiErr := a.admit(ctx, r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	defer release()
	q, err := a.q.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return apiResult{err: querierErr(err)}
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: toHintLimit(limit)}
	vals, warnings, apiErr := collectStrings(sets, func(ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return get(ctx, q, hints, ms...)
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
