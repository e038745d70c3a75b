package promapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

// exprCase is a query checkQuery sees: reason is the budget it breaks, "" when it passes.
type exprCase struct {
	query      string
	start, end int64 // Unix seconds; end == start for an instant query
	step       time.Duration
	reason     string
}

var testBudget = exprBudget{minStep: time.Second, maxPoints: 11_000}

var exprCases = []exprCase{
	{query: `count_over_time({__name__=~".+"}[1h:50ms])`, reason: reasonStep},
	{query: `count_over_time(x[1h:999ms])`, reason: reasonStep},
	{query: `count_over_time(x[1h:1s])`},
	{query: `count_over_time(x[3h3m20s:1s])`},                       // exactly 11,000 points
	{query: `count_over_time(x[3h3m21s:1s])`, reason: reasonPoints}, // one more
	{query: `count_over_time(x[1d:1s])`, reason: reasonPoints},
	{query: `max_over_time(x[5m:])`},                       // no step: the 1m default
	{query: `max_over_time(x[1y:])`, reason: reasonPoints}, // 525,600 points at the 1m default
	{query: `max_over_time(rate(x[5m])[1h:10s])`},
	{query: `max_over_time(max_over_time(x[1h:100ms])[1h:1m])`, reason: reasonStep}, // nested, inner too fine
	{query: `max_over_time(max_over_time(x[1h:1s])[1y:1m])`, reason: reasonPoints},  // nested, outer too long
	{query: `sum(x) + on() group_left count_over_time(y[1h:10ms])`, reason: reasonStep},
	{query: `count_over_time(x[1h:1s] offset 1h)`},
	{query: `count_over_time(x[1h:1s] @ 1700000000)`},
	{query: `x[1h]`},
	{query: `rate(x[1y])`}, // raw samples: bounded by max_samples at run time, not by shape
	{query: `1`},
	// Range queries: the step floor and the points limit, and subqueries inside them.
	{query: `x`, start: 0, end: 3600, step: time.Second},
	{query: `x`, start: 0, end: 3600, step: 500 * time.Millisecond, reason: reasonStep},
	{query: `x`, start: 0, end: 11_000, step: time.Second},
	{query: `x`, start: 0, end: 11_001, step: time.Second, reason: reasonPoints},
	{query: `max_over_time(x[1h:10ms])`, start: 0, end: 3600, step: time.Minute, reason: reasonStep},
	// Duration expressions are resolved with the query's step before the check.
	{query: `count_over_time(x[1h:step()])`, start: 0, end: 3600, step: time.Minute},
	{query: `count_over_time(x[1d:step()])`, start: 0, end: 3600, step: time.Second, reason: reasonPoints},
}

func TestCheckQuery(t *testing.T) {
	t.Parallel()
	p := parser.NewParser(parser.Options{})
	for _, c := range exprCases {
		t.Run(c.query, func(t *testing.T) {
			expr, err := p.ParseExpr(c.query)
			require.NoError(t, err)
			err = checkQuery(expr, time.Unix(c.start, 0), time.Unix(c.end, 0), c.step, testBudget)
			require.Equal(t, c.reason, rejectReason(err), "%v", err)
			if c.reason == "" {
				require.NoError(t, err)
			}
		})
	}
}

// FuzzCheckQuery checks that checkQuery never panics and never passes a subquery the budget forbids.
func FuzzCheckQuery(f *testing.F) {
	for _, c := range exprCases {
		f.Add(c.query, c.start, c.end, int64(c.step))
	}
	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, query string, start, end, step int64) {
		expr, err := p.ParseExpr(query)
		if err != nil || step < 0 || end < start || start < -1e12 || end > 1e12 {
			return
		}
		s, e := time.Unix(start, 0), time.Unix(end, 0)
		err = checkQuery(expr, s, e, time.Duration(step), testBudget)
		if err != nil {
			return
		}
		if step > 0 && time.Duration(step) < testBudget.minStep {
			t.Fatalf("accepted step %s", time.Duration(step))
		}
		resolved, perr := p.ParseExpr(query)
		require.NoError(t, perr)
		parser.Inspect(resolved, func(n parser.Node, _ []parser.Node) error {
			sq, ok := n.(*parser.SubqueryExpr)
			if !ok || sq.StepExpr != nil || sq.RangeExpr != nil {
				return nil
			}
			st := sq.Step
			if st == 0 {
				st = subqueryStep
			}
			if st < testBudget.minStep || int64(sq.Range/st) > testBudget.maxPoints {
				t.Fatalf("accepted subquery %s", sq)
			}
			return nil
		})
	})
}

// errorBody is Prometheus' error envelope.
type errorBody struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func decodeError(t *testing.T, body string) errorBody {
	t.Helper()
	var e errorBody
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.Equal(t, "error", e.Status, body)
	return e
}

func TestSubqueryStepFloor(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	api, srv := newTestServer(t, Options{Registerer: reg})
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`count_over_time({__name__=~".+"}[1h:50ms])`}}})
	require.Equal(t, http.StatusBadRequest, code)
	e := decodeError(t, body)
	require.Equal(t, "bad_data", e.ErrorType)
	require.Contains(t, e.Error, "subquery step 50ms")
	require.InDelta(t, 1, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonStep)), 0)

	code, body, _ = do(t, srv, apiCase{path: "/api/v1/query_range", form: url.Values{
		"query": {`max_over_time(temperature[1d:1s])`}, "start": {"1700000000"}, "end": {"1700000600"}, "step": {"60"}}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, decodeError(t, body).Error, "more than the maximum of 11000")
	require.InDelta(t, 1, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonPoints)), 0)

	code, body, _ = do(t, srv, apiCase{path: "/api/v1/query_range", form: url.Values{
		"query": {`temperature`}, "start": {"1700000000"}, "end": {"1700000600"}, "step": {"0.1"}}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, decodeError(t, body).Error, "step 100ms is below the minimum of 1s")

	// A tighter configured budget applies to range queries too.
	_, srv = newTestServer(t, Options{MaxPoints: 100, MinStep: time.Minute})
	code, body, _ = do(t, srv, apiCase{path: "/api/v1/query_range", form: url.Values{
		"query": {`temperature`}, "start": {"1700000000"}, "end": {"1700010000"}, "step": {"60"}}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, decodeError(t, body).Error, "exceeded maximum resolution of 100 points")
	code, body, _ = do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`max_over_time(temperature[10m:30s])`}}})
	require.Equal(t, http.StatusBadRequest, code, body)

	// A duration expression that does not resolve is a bad query, not a budget rejection.
	code, body, _ = do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`max_over_time(temperature[10m:step()])`}}})
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, decodeError(t, body).Error, `invalid parameter "query"`)
}

func TestMaxSamplesCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	api, srv := newTestServer(t, Options{MaxSamples: 10, Registerer: reg})
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{
		"query": {`count_over_time(temperature[10m:1s])`}, "time": {"1700000600"}}})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.JSONEq(t, `{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}`, body)
	require.InDelta(t, 1, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonSamples)), 0)
	n, err := testutil.GatherAndCount(reg, "citywatch_query_rejected_total")
	require.NoError(t, err)
	require.Equal(t, len(rejectReasons), n, "every reason is exported from the start")
}

func TestQueryTimeout(t *testing.T) {
	t.Parallel()
	api, srv := newTestServer(t, Options{Timeout: time.Nanosecond})
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`temperature`}, "time": {"1700000600"}}})
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "timeout", decodeError(t, body).ErrorType)
	require.InDelta(t, 1, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonTimeout)), 0)

	// /series reads storage without the engine; the timeout bounds it too.
	bq := &blockingQueryable{Queryable: loadTestData(t), entered: make(chan struct{}, 8), release: make(chan struct{})}
	defer close(bq.release)
	bq.block.Store(true)
	api, err := New(bq, Options{Timeout: 20 * time.Millisecond})
	require.NoError(t, err)
	srv = serve(t, api)
	code, body, _ = do(t, srv, apiCase{path: "/api/v1/series", form: url.Values{"match[]": {`temperature`}}})
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Equal(t, "timeout", decodeError(t, body).ErrorType)
}

// TestConcurrencyQueue fills the only slot with a query stuck in storage: a query with a long queue wait gets
// the slot once it frees, one with a short wait is answered 503 unavailable with Retry-After, and a query
// refused by its shape is answered 400 at once without waiting for a slot.
func TestConcurrencyQueue(t *testing.T) {
	t.Parallel()
	bq := &blockingQueryable{Queryable: loadTestData(t), entered: make(chan struct{}, 8), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	api, err := New(bq, Options{MaxConcurrent: 1, QueueWait: time.Hour, Registerer: reg})
	require.NoError(t, err)
	srv := serve(t, api)
	instant := apiCase{path: "/api/v1/query", form: url.Values{"query": {`temperature`}, "time": {"1700000600"}}}

	type answer struct {
		code int
		body string
	}
	first, queued := make(chan answer, 1), make(chan answer, 1)
	bq.block.Store(true)
	go func() { code, body, err := doAsync(srv, instant); first <- answer{code, body + errString(err)} }()
	<-bq.entered // the first query holds the slot, stuck in Select
	require.Equal(t, 1, api.gate.inUse())
	go func() { code, body, err := doAsync(srv, instant); queued <- answer{code, body + errString(err)} }()
	require.Eventually(t, func() bool { return api.gate.queued() == 1 }, 10*time.Second, time.Millisecond)

	// Shapes over budget never queue.
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`count_over_time(temperature[1h:1ms])`}}})
	require.Equal(t, http.StatusBadRequest, code, body)

	// A short wait ends in 503 unavailable with Retry-After: a second API on the same stuck storage.
	api2, err := New(bq, Options{MaxConcurrent: 1, QueueWait: 10 * time.Millisecond})
	require.NoError(t, err)
	srv2 := serve(t, api2)
	go func() { _, _, _ = doAsync(srv2, instant) }()
	<-bq.entered
	for _, c := range []apiCase{instant, {path: "/api/v1/series", form: url.Values{"match[]": {`temperature`}}}, {path: "/api/v1/labels"}, {path: "/api/v1/label/site/values"},
		{path: "/api/v1/query_range", form: url.Values{"query": {`temperature`}, "start": {"1700000000"}, "end": {"1700000600"}, "step": {"60"}}}} {
		code, body, h := do(t, srv2, c)
		require.Equal(t, http.StatusServiceUnavailable, code, c.path)
		e := decodeError(t, body)
		require.Equal(t, "unavailable", e.ErrorType)
		require.Contains(t, e.Error, "1 queries are already running")
		require.Equal(t, "1", h.Get("Retry-After"))
	}
	require.InDelta(t, 5, testutil.ToFloat64(api2.metrics.rejected.WithLabelValues(reasonConcurrency)), 0)

	// Freeing the slot lets the queued query run.
	close(bq.release)
	a := <-first
	require.Equal(t, http.StatusOK, a.code, a.body)
	a = <-queued
	require.Equal(t, http.StatusOK, a.code, a.body)
	require.Eventually(t, func() bool { return api.gate.inUse() == 0 }, 10*time.Second, time.Millisecond, "slots are given back")
	require.InDelta(t, 0, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonConcurrency)), 0)
}

// TestConcurrencyPerClient has client A hold its only slot with a query stuck in storage: A's next query is
// answered 503 after the queue wait, while client B still gets a slot.
func TestConcurrencyPerClient(t *testing.T) {
	t.Parallel()
	bq := &blockingQueryable{Queryable: loadTestData(t), entered: make(chan struct{}, 8), release: make(chan struct{})}
	api, err := New(bq, Options{MaxConcurrent: 4, MaxConcurrentPerClient: 1, QueueWait: 10 * time.Millisecond,
		ClientKey: func(r *http.Request) string { return r.Header.Get("X-Client") }})
	require.NoError(t, err)
	srv := serve(t, api)
	bq.block.Store(true)
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/query?query=temperature", nil)
		req.Header.Set("X-Client", "A")
		resp, err := srv.Client().Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		resp.Body.Close()
		done <- resp.Status
	}()
	<-bq.entered
	as := func(client string) apiCase {
		return apiCase{path: "/api/v1/labels", header: http.Header{"X-Client": {client}}}
	}
	code, body, h := do(t, srv, as("A"))
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	e := decodeError(t, body)
	require.Equal(t, "unavailable", e.ErrorType)
	require.Contains(t, e.Error, "1 queries of this client are already running")
	require.Equal(t, "1", h.Get("Retry-After"))
	code, body, _ = do(t, srv, as("B"))
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 1, api.gate.clients(), "B's entry is gone with its query")
	close(bq.release)
	require.Equal(t, "200 OK", <-done)
	require.Eventually(t, func() bool { return api.gate.clients() == 0 && api.gate.inUse() == 0 }, 10*time.Second, time.Millisecond)
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	api, err := New(loadTestData(t), Options{})
	require.NoError(t, err)
	require.Equal(t, min(2*runtime.GOMAXPROCS(0), DefaultMaxConcurrentCap), cap(api.gate.slots))
	require.Equal(t, max(1, cap(api.gate.slots)/4), api.gate.perKey)
	require.Equal(t, exprBudget{minStep: time.Second, maxPoints: 11_000}, api.budget)
	require.Equal(t, 30*time.Second, api.timeout)
	require.Equal(t, "2", api.retryAfter)
	// The stated memory budget: every default slot at max samples fits in 1 GiB.
	require.LessOrEqual(t, DefaultMaxConcurrentCap*DefaultMaxSamples*BytesPerSample, 1<<30)

	_, err = New(loadTestData(t), Options{MaxConcurrent: -1})
	require.ErrorContains(t, err, "must not be negative")
}

func TestGateRelease(t *testing.T) {
	t.Parallel()
	g := newGate(1, 1, time.Millisecond)
	release, err := g.enter(context.Background(), "")
	require.NoError(t, err)
	_, err = g.enter(context.Background(), "")
	require.ErrorIs(t, err, errGateFull)
	release()
	release() // safe twice: must not free a slot someone else holds
	r2, err := g.enter(context.Background(), "")
	require.NoError(t, err)
	_, err = g.enter(context.Background(), "")
	require.ErrorIs(t, err, errGateFull)
	r2()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g = newGate(0, 0, time.Hour)
	_, err = g.enter(ctx, "")
	require.ErrorIs(t, err, context.Canceled)
}

func serve(t *testing.T, api *API) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// doAsync is do for goroutines other than the test's: it returns errors instead of failing the test.
func doAsync(srv *httptest.Server, c apiCase) (int, string, error) {
	resp, err := srv.Client().Get(srv.URL + c.path + "?" + c.form.Encode())
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// blockingQueryable is storage whose Select (and label calls), while block is set, signals entered and then
// waits for release or the query's end.
type blockingQueryable struct {
	storage.Queryable
	block   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (b *blockingQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	q, err := b.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return &blockingQuerier{Querier: q, b: b}, nil
}

type blockingQuerier struct {
	storage.Querier
	b *blockingQueryable
}

func (q *blockingQuerier) wait(ctx context.Context) error {
	if !q.b.block.Load() {
		return nil
	}
	q.b.entered <- struct{}{}
	select {
	case <-q.b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *blockingQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	if err := q.wait(ctx); err != nil {
		return storage.ErrSeriesSet(err)
	}
	return q.Querier.Select(ctx, sortSeries, hints, ms...)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " " + err.Error()
}
