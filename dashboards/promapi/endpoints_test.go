package promapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// shapeCase is a request and the Prometheus answer shape it must get: the status code, and for a success the
// JSON keys data must hold (an object) or the JSON kind of data; for an error the errorType.
type shapeCase struct {
	apiCase
	keys []string // keys of the data object
	kind string   // "array", "object" or "string": the kind of data
}

// shapeCases are the endpoints Grafana, promtool and client_golang call beyond queries, each with the shape
// Prometheus v3 answers (web/api/v1/api.go).
var shapeCases = []shapeCase{
	{apiCase: apiCase{name: "rules", path: "/api/v1/rules", code: 200}, keys: []string{"groups"}},
	{apiCase: apiCase{name: "rules type alert", path: "/api/v1/rules", form: url.Values{"type": {"alert"}}, code: 200}, keys: []string{"groups"}},
	{apiCase: apiCase{name: "rules bad type", path: "/api/v1/rules", form: url.Values{"type": {"x"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "type"`}},
	{apiCase: apiCase{name: "alerts", path: "/api/v1/alerts", code: 200}, keys: []string{"alerts"}},
	{apiCase: apiCase{name: "targets", path: "/api/v1/targets", code: 200}, keys: []string{"activeTargets", "droppedTargets", "droppedTargetCounts"}},
	{apiCase: apiCase{name: "targets metadata", path: "/api/v1/targets/metadata", code: 200}, kind: "array"},
	{apiCase: apiCase{name: "alertmanagers", path: "/api/v1/alertmanagers", code: 200}, keys: []string{"activeAlertmanagers", "droppedAlertmanagers"}},
	{apiCase: apiCase{name: "buildinfo", path: "/api/v1/status/buildinfo", code: 200}, keys: []string{"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}},
	{apiCase: apiCase{name: "runtimeinfo", path: "/api/v1/status/runtimeinfo", code: 200}, keys: []string{"startTime", "CWD", "hostname", "serverTime",
		"reloadConfigSuccess", "lastConfigTime", "corruptionCount", "goroutineCount", "GOMAXPROCS", "GOMEMLIMIT", "GOGC", "GODEBUG", "storageRetention"}},
	{apiCase: apiCase{name: "flags", path: "/api/v1/status/flags", code: 200}, kind: "object"},
	{apiCase: apiCase{name: "config", path: "/api/v1/status/config", code: 200}, keys: []string{"yaml"}},
	{apiCase: apiCase{name: "tsdb", path: "/api/v1/status/tsdb", code: 200}, keys: []string{"headStats", "seriesCountByMetricName",
		"labelValueCountByLabelName", "memoryInBytesByLabelName", "seriesCountByLabelValuePair"}},
	{apiCase: apiCase{name: "tsdb bad limit", path: "/api/v1/status/tsdb", form: url.Values{"limit": {"0"}}, code: 400, errType: "bad_data", errContains: "limit must be a positive number"}},
	{apiCase: apiCase{name: "tsdb limit too big", path: "/api/v1/status/tsdb", form: url.Values{"limit": {"10001"}}, code: 400, errType: "bad_data", errContains: "limit must not exceed 10000"}},
	{apiCase: apiCase{name: "format_query", path: "/api/v1/format_query", form: url.Values{"query": {"sum(rate(x[5m]))by(site)"}}, code: 200}, kind: "string"},
	{apiCase: apiCase{name: "format_query POST", method: "POST", path: "/api/v1/format_query", form: url.Values{"query": {"x"}}, code: 200}, kind: "string"},
	{apiCase: apiCase{name: "format_query bad", path: "/api/v1/format_query", form: url.Values{"query": {"sum("}}, code: 400, errType: "bad_data", errContains: `invalid parameter "query"`}},
	{apiCase: apiCase{name: "parse_query", path: "/api/v1/parse_query", form: url.Values{"query": {`sum by (site) (rate(x{a="b"}[5m] offset 1m)) > bool 2`}}, code: 200}, keys: []string{"type", "op", "lhs", "rhs", "bool"}},
	{apiCase: apiCase{name: "parse_query POST", method: "POST", path: "/api/v1/parse_query", form: url.Values{"query": {"x[5m:1m]"}}, code: 200}, keys: []string{"type", "expr", "range", "step"}},
	{apiCase: apiCase{name: "parse_query bad", path: "/api/v1/parse_query", form: url.Values{"query": {"x{"}}, code: 400, errType: "bad_data", errContains: `invalid parameter "query"`}},
	{apiCase: apiCase{name: "metadata", path: "/api/v1/metadata", code: 200}, kind: "object"},
	{apiCase: apiCase{name: "exemplars", path: "/api/v1/query_exemplars", form: url.Values{"query": {"x"}}, code: 200}, kind: "array"},

	// Wrong methods answer 405 with Prometheus' error shape and an Allow header, as Prometheus' router does.
	{apiCase: apiCase{name: "POST label values", method: "POST", path: "/api/v1/label/site/values", code: 405, errType: "method_not_allowed", errContains: "POST"}},
	{apiCase: apiCase{name: "POST rules", method: "POST", path: "/api/v1/rules", code: 405, errType: "method_not_allowed"}},
	{apiCase: apiCase{name: "DELETE query", method: "DELETE", path: "/api/v1/query", code: 405, errType: "method_not_allowed"}},
	{apiCase: apiCase{name: "PUT status config", method: "PUT", path: "/api/v1/status/config", code: 405, errType: "method_not_allowed"}},
	{apiCase: apiCase{name: "POST buildinfo", method: "POST", path: "/api/v1/status/buildinfo", code: 405, errType: "method_not_allowed"}},

	// Unknown paths answer 404 not_found in Prometheus' error shape, never the REST API's.
	{apiCase: apiCase{name: "unknown path", path: "/api/v1/nope", code: 404, errType: "not_found", errContains: "/api/v1/nope"}},
	{apiCase: apiCase{name: "unknown status", path: "/api/v1/status/nope", code: 404, errType: "not_found"}},
	{apiCase: apiCase{name: "unknown POST", method: "POST", path: "/api/v1/admin/tsdb/snapshot", code: 404, errType: "not_found"}},
	{apiCase: apiCase{name: "api root", path: "/api/v1/", code: 404, errType: "not_found"}},
}

// allowCases are the Allow headers of the 405 answers.
var allowCases = map[string]string{
	"/api/v1/label/site/values": "GET",
	"/api/v1/query":             "GET, POST",
	"/api/v1/status/config":     "GET",
}

func TestEndpointShapes(t *testing.T) {
	t.Parallel()
	db := loadTestData(t)
	api, err := New(db, Options{Status: Status{TSDB: db, Flags: map[string]string{"config": "x.yaml"},
		Config: func() string { return "data_dir: /x\n" }}})
	require.NoError(t, err)
	srv := serve(t, api)
	for _, c := range shapeCases {
		t.Run(c.name, func(t *testing.T) {
			code, body, h := do(t, srv, c.apiCase)
			require.Equal(t, c.code, code, body)
			require.Equal(t, "application/json", h.Get("Content-Type"), body)
			var env struct {
				Status    string          `json:"status"`
				Data      json.RawMessage `json:"data"`
				ErrorType string          `json:"errorType"`
				Error     string          `json:"error"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &env), body)
			if c.code != http.StatusOK {
				require.Equal(t, "error", env.Status, body)
				require.Equal(t, c.errType, env.ErrorType, body)
				require.Contains(t, env.Error, c.errContains, body)
				if c.code == http.StatusMethodNotAllowed {
					if want, ok := allowCases[c.path]; ok {
						require.Equal(t, want, h.Get("Allow"))
					}
				}
				return
			}
			require.Equal(t, "success", env.Status, body)
			switch {
			case c.kind == "array":
				require.Equal(t, byte('['), env.Data[0], body)
			case c.kind == "string":
				require.Equal(t, byte('"'), env.Data[0], body)
			default:
				var obj map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(env.Data, &obj), body)
				for _, k := range c.keys {
					require.Contains(t, obj, k, body)
					require.NotEqual(t, "null", string(obj[k]), "%s must not be null (client_golang and Grafana iterate it): %s", k, body)
				}
			}
		})
	}
}

// FuzzParseQuery: whatever the query, parse_query's translation of a parsed expression is JSON and never
// panics (Prometheus' own panics on an unknown node type). Seeded with the queries of shapeCases.
func FuzzParseQuery(f *testing.F) {
	for _, c := range shapeCases {
		if q := c.form.Get("query"); q != "" {
			f.Add(q)
		}
	}
	f.Add(`histogram_quantile(0.9, sum by (le) (rate(x[5m] @ start() offset -1m)))`)
	f.Add(`a / on(site) group_left(device) b unless c[1h:5m] offset (1m+2m)`)
	f.Add(`-{"utf8.name", site=~"a|b"} and count_values("v", x) > bool 1`)
	api, err := New(loadTestData(f), Options{})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, q string) {
		expr, err := api.parser.ParseExpr(q)
		if err != nil {
			return
		}
		if _, err := json.Marshal(translateAST(expr)); err != nil {
			t.Fatalf("%q: %v", q, err)
		}
	})
}
