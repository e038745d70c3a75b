package promapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/promapi/promscope"
)

// fakeEngine is a remote query API that records what it is sent and answers with answer (or blocks while
// block is open).
type fakeEngine struct {
	mu      sync.Mutex
	got     []url.Values
	paths   []string
	status  int
	ctype   string
	body    string
	entered chan struct{}
	block   chan struct{}
}

func (f *fakeEngine) Do(ctx context.Context, path string, form url.Values, _ string) (*http.Response, error) {
	f.mu.Lock()
	f.got, f.paths = append(f.got, form), append(f.paths, path)
	block := f.block
	f.mu.Unlock()
	if block != nil {
		f.entered <- struct{}{}
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", f.ctype)
	rec.WriteHeader(f.status)
	_, _ = rec.WriteString(f.body)
	return rec.Result(), nil
}

func (f *fakeEngine) last() (string, url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		return "", nil
	}
	return f.paths[len(f.paths)-1], f.got[len(f.got)-1]
}

const okVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`

func newRemoteTest(t *testing.T, f *fakeEngine, sites promscope.Sites, opts Options) (*API, *httptest.Server) {
	t.Helper()
	if f.status == 0 {
		f.status, f.ctype, f.body = 200, "application/json", okVector
	}
	api, err := NewRemote(f, opts)
	require.NoError(t, err)
	api.sites = func(*http.Request) promscope.Sites { return sites } // as if the principal had these sites
	return api, serve(t, api)
}

// TestRemoteRewrites: what reaches the engine is the scoped query and scoped match[] selectors, the capped
// timeout and the allowed parameters only; the engine's answer reaches the client as it was.
func TestRemoteRewrites(t *testing.T) {
	t.Parallel()
	f := &fakeEngine{}
	_, srv := newRemoteTest(t, f, promscope.Sites{Names: []string{"a"}}, Options{Timeout: 10 * time.Second})
	for _, c := range []struct {
		req  apiCase
		path string
		want url.Values
	}{
		{apiCase{path: "/api/v1/query", form: url.Values{"query": {`rate(x{site="b"}[5m])`}, "time": {"1700000000"}, "timeout": {"1m"}, "secret": {"s"}}},
			"/api/v1/query", url.Values{"query": {`rate(x{site!="",site="b",site=~"a"}[5m])`}, "time": {"1700000000"}, "timeout": {"10"}}},
		{apiCase{path: "/api/v1/query_range", method: http.MethodPost, form: url.Values{"query": {`x`}, "start": {"0"}, "end": {"3600"}, "step": {"60"}, "timeout": {"2"}}},
			"/api/v1/query_range", url.Values{"query": {`x{site!="",site=~"a"}`}, "start": {"0"}, "end": {"3600"}, "step": {"60"}, "timeout": {"2"}}},
		{apiCase{path: "/api/v1/series", form: url.Values{"match[]": {`{__name__=~".+"}`, `y`}, "limit": {"5"}}},
			"/api/v1/series", url.Values{"match[]": {`{__name__=~".+",site!="",site=~"a"}`, `{__name__="y",site!="",site=~"a"}`}, "limit": {"5"}, "timeout": {"10"}}},
		{apiCase{path: "/api/v1/labels"},
			"/api/v1/labels", url.Values{"match[]": {`{site!="",site=~"a"}`}, "timeout": {"10"}}},
		{apiCase{path: "/api/v1/label/site/values"},
			"/api/v1/label/site/values", url.Values{"match[]": {`{site!="",site=~"a"}`}, "timeout": {"10"}}},
	} {
		code, body, _ := do(t, srv, c.req)
		require.Equal(t, 200, code, body)
		require.Equal(t, okVector, body)
		path, got := f.last()
		require.Equal(t, c.path, path)
		require.Equal(t, c.want, got, c.req.path)
	}
}

// TestRemoteNoSites: a principal without sites sends selectors that match nothing.
func TestRemoteNoSites(t *testing.T) {
	t.Parallel()
	f := &fakeEngine{}
	_, srv := newRemoteTest(t, f, promscope.Sites{}, Options{})
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`x`}}})
	require.Equal(t, 200, code, body)
	_, got := f.last()
	require.Equal(t, `x{site!="",site=~""}`, got.Get("query"))
}

// TestRemoteBudget: the step floor and points limit refuse a query before it reaches the engine; a full gate
// answers 503; an engine slower than the timeout is a 503 timeout.
func TestRemoteBudget(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	f := &fakeEngine{}
	api, srv := newRemoteTest(t, f, promscope.Sites{All: true}, Options{MaxConcurrent: 1, QueueWait: 10 * time.Millisecond,
		Timeout: 200 * time.Millisecond, Registerer: reg})
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`count_over_time(x[1h:50ms])`}}})
	require.Equal(t, http.StatusBadRequest, code, body)
	code, body, _ = do(t, srv, apiCase{path: "/api/v1/query_range", form: url.Values{"query": {`x`}, "start": {"0"}, "end": {"3600"}, "step": {"0.1"}}})
	require.Equal(t, http.StatusBadRequest, code, body)
	path, _ := f.last()
	require.Empty(t, path, "a query over budget reached the engine")

	f.mu.Lock()
	f.block, f.entered = make(chan struct{}), make(chan struct{}, 4)
	f.mu.Unlock()
	done := make(chan int, 1)
	go func() {
		code, _, _ := doAsync(srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`x`}}})
		done <- code
	}()
	<-f.entered
	code, body, h := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`x`}}})
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Equal(t, "unavailable", decodeError(t, body).ErrorType)
	require.Equal(t, "1", h.Get("Retry-After"))
	require.Equal(t, http.StatusServiceUnavailable, <-done, "the engine never answered within the timeout")
	require.Eventually(t, func() bool { return api.gate.inUse() == 0 }, 10*time.Second, time.Millisecond)
	require.InDelta(t, 1, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonTimeout)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonConcurrency)), 0)
}

// TestRemoteErrors: Prometheus-shaped engine errors pass through; an answer that is not (401 to our
// credentials, a proxy's HTML page) becomes an internal error without the engine's body.
func TestRemoteErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, ctype, body string
		status, code      int
	}{
		{"bad query", "application/json", `{"status":"error","errorType":"bad_data","error":"unknown func"}`, 400, 400},
		{"execution", "application/json", `{"status":"error","errorType":"execution","error":"too many samples"}`, 422, 422},
		{"unauthorized", "text/plain", "bad token Bearer SECRET", 401, 500},
		{"html", "text/html", "<html>SECRET</html>", 200, 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeEngine{status: c.status, ctype: c.ctype, body: c.body}
			_, srv := newRemoteTest(t, f, promscope.Sites{All: true}, Options{})
			code, body, _ := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {`x`}}})
			require.Equal(t, c.code, code, body)
			require.NotContains(t, body, "SECRET")
			decodeError(t, body)
		})
	}
}

// TestNewRemoteScopedByThePrincipal: a remote API is scoped by construction: with no sites function to pass,
// the request's principal decides, and a request without one reads nothing (fail closed).
func TestNewRemoteScopedByThePrincipal(t *testing.T) {
	t.Parallel()
	f := &fakeEngine{status: 200, ctype: "application/json", body: okVector}
	api, err := NewRemote(f, Options{})
	require.NoError(t, err)
	mux := http.NewServeMux()
	api.Register(mux)
	for _, c := range []struct {
		name string
		p    *auth.Principal
		want string
	}{
		{"no principal", nil, `x{site!="",site=~""}`},
		{"invalid role", &auth.Principal{Role: "bogus", Sites: []string{"a"}}, `x{site!="",site=~""}`},
		{"site a", &auth.Principal{Role: auth.RoleViewer, Sites: []string{"a"}}, `x{site!="",site=~"a"}`},
		{"every site", &auth.Principal{Role: auth.RoleViewer, Sites: []string{"*"}}, `x`},
		{"admin", &auth.Principal{Role: auth.RoleAdmin}, `x`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/query?query=x", nil)
			if c.p != nil {
				r = r.WithContext(auth.NewContext(r.Context(), *c.p))
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			require.Equal(t, 200, rec.Code, rec.Body.String())
			_, got := f.last()
			require.Equal(t, c.want, got.Get("query"))
		})
	}
}
