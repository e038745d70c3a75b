package promapi

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"citywatch/store"
	"citywatch/store/tsdb"
)

// baseSec is the time of the test data in Unix seconds: fixed, so answers are golden.
const baseSec = 1_700_000_000

// loadTestData opens a TSDB with: temperature and humidity of s1 and s2 at site A, one sample a minute for 10
// minutes (temperature s1 = minute, s2 = 100+minute, humidity = 50+minute), and special{kind="nan"|"inf"}.
func loadTestData(t testing.TB) *tsdb.DB {
	t.Helper()
	db, err := tsdb.Open(tsdb.Config{Dir: t.TempDir()}, tsdb.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	var ss []store.Sample
	for m := range 11 {
		ts := int64(baseSec+60*m) * 1000
		for _, dev := range []string{"s1", "s2"} {
			ls := []store.Label{{Name: "device", Value: dev}, {Name: "site", Value: "A"}}
			v := float64(m)
			if dev == "s2" {
				v += 100
			}
			ss = append(ss,
				store.Sample{Name: "temperature", Labels: ls, T: ts, V: v},
				store.Sample{Name: "humidity", Labels: ls, T: ts, V: 50 + float64(m)})
		}
	}
	ss = append(ss,
		store.Sample{Name: "special", Labels: []store.Label{{Name: "kind", Value: "nan"}}, T: baseSec * 1000, V: math.NaN()},
		store.Sample{Name: "special", Labels: []store.Label{{Name: "kind", Value: "inf"}}, T: baseSec * 1000, V: math.Inf(1)})
	require.NoError(t, db.Append(context.Background(), ss))
	return db
}

func newTestServer(t testing.TB, opts Options) (*API, *httptest.Server) {
	t.Helper()
	api, err := New(loadTestData(t), opts)
	require.NoError(t, err)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return api, srv
}

// apiCase is one request and its exact expected answer.
type apiCase struct {
	name   string
	method string // GET when empty; POST sends the form in the body.
	path   string
	form   url.Values
	header http.Header
	code   int
	body   string // Exact JSON (compared as JSON) for golden cases.
	// For error cases: the errorType and a part of the error message.
	errType, errContains string
}

var goldenCases = []apiCase{
	{
		name: "instant vector",
		path: "/api/v1/query", form: url.Values{"query": {`temperature{device="s1"}`}, "time": {"1700000120"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"temperature","device":"s1","site":"A"},"value":[1700000120,"2"]}]}}`,
	},
	{
		name:   "instant vector, POST, RFC 3339 time",
		method: "POST", path: "/api/v1/query",
		form: url.Values{"query": {`humidity{device="s2"}`}, "time": {"2023-11-14T22:15:20Z"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"humidity","device":"s2","site":"A"},"value":[1700000120,"52"]}]}}`,
	},
	{
		name: "scalar with millisecond time",
		path: "/api/v1/query", form: url.Values{"query": {"1+1"}, "time": {"1700000000.5"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"2"]}}`,
	},
	{
		name: "string",
		path: "/api/v1/query", form: url.Values{"query": {`"hi <there>"`}, "time": {"1700000000.007"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"string","result":[1700000000.007,"hi \u003cthere\u003e"]}}`,
	},
	{
		name: "range selector gives a matrix",
		path: "/api/v1/query", form: url.Values{"query": {`temperature{device="s1"}[2m]`}, "time": {"1700000120"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"temperature","device":"s1","site":"A"},"values":[[1700000060,"1"],[1700000120,"2"]]}]}}`,
	},
	{
		name: "NaN and Inf values",
		path: "/api/v1/query", form: url.Values{"query": {`special`}, "time": {"1700000000"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"special","kind":"nan"},"value":[1700000000,"NaN"]},{"metric":{"__name__":"special","kind":"inf"},"value":[1700000000,"+Inf"]}]}}`,
	},
	{
		name: "limit truncates with a warning",
		path: "/api/v1/query", form: url.Values{"query": {`sort(temperature)`}, "time": {"1700000000"}, "limit": {"1"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"temperature","device":"s1","site":"A"},"value":[1700000000,"0"]}]},"warnings":["results truncated due to limit"]}`,
	},
	{
		name: "at modifier and negative offset are enabled",
		path: "/api/v1/query", form: url.Values{"query": {`temperature{device="s1"} @ 1700000060 offset -1m`}, "time": {"1700000600"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"temperature","device":"s1","site":"A"},"value":[1700000600,"2"]}]}}`,
	},
	{
		// Steps of a subquery are aligned to multiples of 1m in Unix time, 20s after the test samples.
		name: "subquery without step",
		path: "/api/v1/query", form: url.Values{"query": {`max_over_time(temperature{device="s1"}[5m:])`}, "time": {"1700000600"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"device":"s1","site":"A"},"value":[1700000600,"9"]}]}}`,
	},
	{
		name: "range query",
		path: "/api/v1/query_range",
		form: url.Values{"query": {`temperature{device="s2"}`}, "start": {"1700000000"}, "end": {"1700000120"}, "step": {"60"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"temperature","device":"s2","site":"A"},"values":[[1700000000,"100"],[1700000060,"101"],[1700000120,"102"]]}]}}`,
	},
	{
		name:   "range query, POST, duration step, aggregation",
		method: "POST", path: "/api/v1/query_range",
		form: url.Values{"query": {`sum(temperature)`}, "start": {"1700000000"}, "end": {"1700000060"}, "step": {"1m"}},
		code: 200,
		body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"100"],[1700000060,"102"]]}]}}`,
	},
	{
		name: "series",
		path: "/api/v1/series", form: url.Values{"match[]": {`temperature`}},
		code: 200,
		body: `{"status":"success","data":[{"__name__":"temperature","device":"s1","site":"A"},{"__name__":"temperature","device":"s2","site":"A"}]}`,
	},
	{
		name:   "series, two selectors merged, POST",
		method: "POST", path: "/api/v1/series",
		form: url.Values{"match[]": {`temperature{device="s1"}`, `{__name__="humidity",device="s1"}`, `temperature{device="s1"}`}, "start": {"1700000000"}, "end": {"1700000600"}},
		code: 200,
		body: `{"status":"success","data":[{"__name__":"humidity","device":"s1","site":"A"},{"__name__":"temperature","device":"s1","site":"A"}]}`,
	},
	{
		name: "series outside the time range",
		path: "/api/v1/series", form: url.Values{"match[]": {`temperature`}, "start": {"1600000000"}, "end": {"1600000600"}},
		code: 200,
		body: `{"status":"success","data":[]}`,
	},
	{
		name: "series limit",
		path: "/api/v1/series", form: url.Values{"match[]": {`temperature`}, "limit": {"1"}},
		code: 200,
		body: `{"status":"success","data":[{"__name__":"temperature","device":"s1","site":"A"}],"warnings":["results truncated due to limit"]}`,
	},
	{
		name: "label names",
		path: "/api/v1/labels",
		code: 200,
		body: `{"status":"success","data":["__name__","device","kind","site"]}`,
	},
	{
		name: "label names with matcher",
		path: "/api/v1/labels", form: url.Values{"match[]": {`special`}},
		code: 200,
		body: `{"status":"success","data":["__name__","kind"]}`,
	},
	{
		name:   "label names, two matchers, POST",
		method: "POST", path: "/api/v1/labels", form: url.Values{"match[]": {`special`, `humidity`}},
		code: 200,
		body: `{"status":"success","data":["__name__","device","kind","site"]}`,
	},
	{
		name: "metric names",
		path: "/api/v1/label/__name__/values",
		code: 200,
		body: `{"status":"success","data":["humidity","special","temperature"]}`,
	},
	{
		name: "label values with matcher and limit",
		path: "/api/v1/label/device/values", form: url.Values{"match[]": {`temperature`}, "limit": {"1"}},
		code: 200,
		body: `{"status":"success","data":["s1"],"warnings":["results truncated due to limit"]}`,
	},
	{
		name: "label values of an escaped name",
		path: "/api/v1/label/U__site/values",
		code: 200,
		body: `{"status":"success","data":["A"]}`,
	},
	{
		name: "label values of an unknown label",
		path: "/api/v1/label/nope/values",
		code: 200,
		body: `{"status":"success","data":[]}`,
	},
	{
		name: "metadata",
		path: "/api/v1/metadata",
		code: 200,
		body: `{"status":"success","data":{}}`,
	},
	{
		name: "exemplars",
		path: "/api/v1/query_exemplars", form: url.Values{"query": {`temperature`}, "start": {"1700000000"}, "end": {"1700000600"}},
		code: 200,
		body: `{"status":"success","data":[]}`,
	},
	{
		name: "buildinfo",
		path: "/api/v1/status/buildinfo",
		code: 200,
		body: `{"status":"success","data":{"version":"3.0.0","revision":"citywatch","branch":"","buildUser":"citywatch","buildDate":"","goVersion":"` + runtime.Version() + `"}}`,
	},
}

// errorCases are bad requests and failing queries with the answer Prometheus gives.
var errorCases = []apiCase{
	{name: "no query", path: "/api/v1/query", code: 400, errType: "bad_data", errContains: `invalid parameter "query": unknown position: parse error: no expression found in input`},
	{name: "syntax error", path: "/api/v1/query", form: url.Values{"query": {"sum("}}, code: 400, errType: "bad_data", errContains: `invalid parameter "query": 1:5: parse error`},
	{name: "unknown function", path: "/api/v1/query", form: url.Values{"query": {"nope(x)"}}, code: 400, errType: "bad_data", errContains: `unknown function with name "nope"`},
	{name: "bad time", path: "/api/v1/query", form: url.Values{"query": {"1"}, "time": {"abc"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "time": invalid time value for 'time': cannot parse "abc" to a valid timestamp`},
	{name: "NaN time", path: "/api/v1/query", form: url.Values{"query": {"1"}, "time": {"NaN"}}, code: 400, errType: "bad_data", errContains: `cannot parse "NaN" to a valid timestamp: out of range`},
	{name: "huge time", path: "/api/v1/query", form: url.Values{"query": {"1"}, "time": {"1e300"}}, code: 400, errType: "bad_data", errContains: `out of range`},
	{name: "negative limit", path: "/api/v1/query", form: url.Values{"query": {"1"}, "limit": {"-1"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "limit": limit must be non-negative`},
	{name: "bad limit", path: "/api/v1/query", form: url.Values{"query": {"1"}, "limit": {"ten"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "limit": strconv.Atoi: parsing "ten": invalid syntax`},
	{name: "bad timeout", path: "/api/v1/query", form: url.Values{"query": {"1"}, "timeout": {"soon"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "timeout": cannot parse "soon" to a valid duration`},
	{name: "negative timeout", path: "/api/v1/query", form: url.Values{"query": {"1"}, "timeout": {"-1"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "timeout": timeout must be positive, got -1s`},
	{name: "bad lookback", path: "/api/v1/query", form: url.Values{"query": {"1"}, "lookback_delta": {"x"}}, code: 400, errType: "bad_data", errContains: `error parsing lookback delta duration: cannot parse "x" to a valid duration`},
	{name: "bad start timestamps header", path: "/api/v1/query", form: url.Values{"query": {"1"}}, header: http.Header{"X-Prometheus-Use-Start-Timestamps": {"maybe"}}, code: 400, errType: "bad_data", errContains: `error parsing X-Prometheus-Use-Start-Timestamps header`},
	{name: "range without start", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "end": {"1"}, "step": {"1"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "start": cannot parse "" to a valid timestamp`},
	{name: "range without end", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "start": {"1"}, "step": {"1"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "end": cannot parse "" to a valid timestamp`},
	{name: "end before start", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "start": {"10"}, "end": {"5"}, "step": {"1"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "end": end timestamp must not be before start time`},
	{name: "zero step", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "start": {"1"}, "end": {"5"}, "step": {"0"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer`},
	{name: "negative step", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "start": {"1"}, "end": {"5"}, "step": {"-1m"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "step": cannot parse "-1m" to a valid duration`},
	{name: "negative float step", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "start": {"1"}, "end": {"5"}, "step": {"-1"}}, code: 400, errType: "bad_data", errContains: `zero or negative query resolution step widths are not accepted`},
	{name: "no step", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "start": {"1"}, "end": {"5"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "step": cannot parse "" to a valid duration`},
	{name: "overflowing step", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "start": {"1"}, "end": {"5"}, "step": {"1e300"}}, code: 400, errType: "bad_data", errContains: `It overflows int64`},
	{name: "too many points", path: "/api/v1/query_range", form: url.Values{"query": {"1"}, "start": {"0"}, "end": {"11001"}, "step": {"1"}}, code: 400, errType: "bad_data", errContains: `exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)`},
	{name: "range syntax error", path: "/api/v1/query_range", form: url.Values{"query": {"rate(x)"}, "start": {"0"}, "end": {"1"}, "step": {"1"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "query"`},
	{name: "series without match", path: "/api/v1/series", code: 400, errType: "bad_data", errContains: `no match[] parameter provided`},
	{name: "series bad match", path: "/api/v1/series", form: url.Values{"match[]": {`{`}}, code: 400, errType: "bad_data", errContains: `invalid parameter "match[]"`},
	{name: "series empty matcher", path: "/api/v1/series", form: url.Values{"match[]": {`{foo=""}`}}, code: 400, errType: "bad_data", errContains: `match[] must contain at least one non-empty matcher`},
	{name: "series bad start", path: "/api/v1/series", form: url.Values{"match[]": {`up`}, "start": {"x"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "start": invalid time value for 'start'`},
	{name: "series bad limit", path: "/api/v1/series", form: url.Values{"match[]": {`up`}, "limit": {"-5"}}, code: 400, errType: "bad_data", errContains: `limit must be non-negative`},
	{name: "labels bad end", path: "/api/v1/labels", form: url.Values{"end": {"x"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "end"`},
	{name: "labels bad match", path: "/api/v1/labels", form: url.Values{"match[]": {`{`}}, code: 400, errType: "bad_data", errContains: `parse error`},
	{name: "label values invalid name", path: "/api/v1/label/%ff/values", code: 400, errType: "bad_data", errContains: `invalid label name: "\xff"`},
	{name: "label values bad limit", path: "/api/v1/label/site/values", form: url.Values{"limit": {"x"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "limit"`},
	{name: "exemplars end before start", path: "/api/v1/query_exemplars", form: url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}}, code: 400, errType: "bad_data", errContains: `end timestamp must not be before start timestamp`},
	{name: "exemplars bad query", path: "/api/v1/query_exemplars", form: url.Values{"query": {"up{"}}, code: 400, errType: "bad_data", errContains: `parse error`},
	{name: "metadata bad limit", path: "/api/v1/metadata", form: url.Values{"limit": {"x"}}, code: 400, errType: "bad_data", errContains: `limit must be a number`},
	{name: "metadata bad limit per metric", path: "/api/v1/metadata", form: url.Values{"limit_per_metric": {"x"}}, code: 400, errType: "bad_data", errContains: `limit_per_metric must be a number`},
	{
		name: "execution error", path: "/api/v1/query",
		form: url.Values{"query": {`abs({__name__=~"temperature|humidity",device="s1"})`}, "time": {"1700000060"}},
		code: 422, errType: "execution", errContains: `vector cannot contain metrics with the same labelset`,
	},
	{
		name: "timeout", path: "/api/v1/query_range",
		form: url.Values{"query": {`temperature`}, "start": {"1700000000"}, "end": {"1700000600"}, "step": {"1"}, "timeout": {"0.000000001"}},
		code: 503, errType: "timeout", errContains: `query timed out`,
	},
}

func do(t *testing.T, srv *httptest.Server, c apiCase) (int, string, http.Header) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	u := srv.URL + c.path
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(c.form.Encode())
	} else if len(c.form) > 0 {
		u += "?" + c.form.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

// runCases sends each case to one test server and requires its status code and a JSON answer, whose body
// check then judges.
func runCases(t *testing.T, cases []apiCase, check func(t *testing.T, c apiCase, body string)) {
	_, srv := newTestServer(t, Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body, h := do(t, srv, c)
			require.Equal(t, c.code, code, body)
			require.Equal(t, "application/json", h.Get("Content-Type"))
			check(t, c, body)
		})
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	runCases(t, goldenCases, func(t *testing.T, c apiCase, body string) { require.JSONEq(t, c.body, body) })
}

func TestErrors(t *testing.T) {
	t.Parallel()
	runCases(t, errorCases, func(t *testing.T, c apiCase, body string) {
		var resp struct {
			Status    string `json:"status"`
			ErrorType string `json:"errorType"`
			Error     string `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &resp), body)
		require.Equal(t, "error", resp.Status)
		require.Equal(t, c.errType, resp.ErrorType)
		require.Contains(t, resp.Error, c.errContains)
	})
}

func TestTooManySamples(t *testing.T) {
	t.Parallel()
	_, srv := newTestServer(t, Options{MaxSamples: 10})
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/query_range", form: url.Values{
		"query": {`temperature`}, "start": {"1700000000"}, "end": {"1700000600"}, "step": {"1"}}})
	require.Equal(t, 422, code)
	require.JSONEq(t, `{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}`, body)
}

func TestCanceled(t *testing.T) {
	t.Parallel()
	api, err := New(loadTestData(t), Options{})
	require.NoError(t, err)
	mux := http.NewServeMux()
	api.Register(mux)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/query?query=temperature&time=1700000000", nil)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	require.Equal(t, 499, rec.Code)
	require.JSONEq(t, `{"status":"error","errorType":"canceled","error":"query was canceled in query execution"}`, rec.Body.String())
}

func TestBadForm(t *testing.T) {
	t.Parallel()
	_, srv := newTestServer(t, Options{})
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/query", strings.NewReader("query=%zz"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, 400, resp.StatusCode)
	require.Contains(t, string(b), `"errorType":"bad_data","error":"error parsing form values: invalid URL escape \"%zz\""`)

	// Routes answer only GET (and POST where Prometheus does).
	req, err = http.NewRequest(http.MethodDelete, srv.URL+"/api/v1/query", nil)
	require.NoError(t, err)
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestStats(t *testing.T) {
	t.Parallel()
	_, srv := newTestServer(t, Options{})
	for _, s := range []string{"true", "all", "1"} {
		code, body, _ := do(t, srv, apiCase{path: "/api/v1/query", form: url.Values{"query": {"temperature"}, "time": {"1700000000"}, "stats": {s}}})
		require.Equal(t, 200, code)
		var resp struct {
			Data struct {
				Stats struct {
					Samples struct {
						TotalQueryableSamples int `json:"totalQueryableSamples"`
					} `json:"samples"`
				} `json:"stats"`
			} `json:"data"`
			Warnings []string `json:"warnings"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &resp), body)
		require.Equal(t, 2, resp.Data.Stats.Samples.TotalQueryableSamples, body)
		if s == "1" {
			require.Len(t, resp.Warnings, 1, "unsupported stats values are deprecated")
		}
	}
}

func TestQueryHelper(t *testing.T) {
	t.Parallel()
	api, err := New(loadTestData(t), Options{})
	require.NoError(t, err)
	v, err := api.Query(context.Background(), `temperature > 104`, time.Unix(baseSec+600, 0))
	require.NoError(t, err)
	vec, ok := v.(promql.Vector)
	require.True(t, ok)
	require.Len(t, vec, 1)
	require.InDelta(t, 110.0, vec[0].F, 0)

	v, err = api.Query(context.Background(), `temperature{device="s1"}[3m]`, time.Unix(baseSec+600, 0))
	require.NoError(t, err)
	m := v.(promql.Matrix)
	require.Len(t, m, 1)
	require.Len(t, m[0].Floats, 3)
	require.InDelta(t, 10.0, m[0].Floats[2].F, 0, "the matrix survives the query's Close")

	_, err = api.Query(context.Background(), `sum(`, time.Unix(baseSec, 0))
	require.Error(t, err)
	require.NotNil(t, api.Engine())
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	_, err := New(nil, Options{})
	require.ErrorContains(t, err, "queryable storage is required")
	_, err = New(loadTestData(t), Options{Timeout: -1})
	require.ErrorContains(t, err, "must not be negative")

	reg := prometheus.NewRegistry()
	q := loadTestData(t)
	api, err := New(q, Options{Registerer: reg})
	require.NoError(t, err)
	_, err = New(q, Options{Registerer: reg})
	require.ErrorContains(t, err, "register", "a second API on one registry is an error, not a panic")

	mux := http.NewServeMux()
	api.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/query?query=1", nil))
	require.Equal(t, 200, rec.Code)
	require.InDelta(t, 1, testutil.ToFloat64(api.metrics.requests.WithLabelValues("query", "200")), 0)
	n, err := testutil.GatherAndCount(reg, "citywatch_prometheus_engine_queries")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}
