package promapi

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
)

// fakeRules has one rule per site in group "g" and one event rule in group "ev"; alert "HotA" fires at site
// a, "HotB" is pending at site b, and "Offline" fires at both sites.
type fakeRules struct{}

var ruleT = time.Unix(baseSec, 0).UTC()

func (fakeRules) Rules() []Rule {
	return []Rule{
		{Group: "g", File: "rules.yaml", GroupInterval: time.Minute, Name: "HotA", Query: `temperature{site="a"} > 30`,
			For: time.Minute, Labels: map[string]string{"severity": "page"}, Annotations: map[string]string{"summary": "hot"},
			Health: "ok", LastEval: ruleT, EvalDuration: 2 * time.Millisecond},
		{Group: "g", File: "rules.yaml", GroupInterval: time.Minute, Name: "HotB", Query: `temperature{site="b"} > 30`,
			Health: "err", LastError: `secret_b_label="x": many-to-many matching`, LastEval: ruleT},
		{Group: "ev", File: "events.yaml", Name: "Offline", Query: "event camera_offline", KeepFiringFor: time.Minute},
	}
}

func (fakeRules) ActiveAlerts() []Alert {
	return []Alert{
		{Rule: "HotA", Group: "g", Labels: map[string]string{"alertname": "HotA", "site": "a"}, State: "firing", ActiveAt: ruleT, Value: 31},
		{Rule: "HotB", Group: "g", Labels: map[string]string{"alertname": "HotB", "site": "b", "secret_b_label": "x"}, State: "pending", ActiveAt: ruleT, Value: 32},
		{Rule: "Offline", Group: "ev", Labels: map[string]string{"alertname": "Offline", "site": "a", "camera": "ca"}, State: "firing", Value: math.NaN()},
		{Rule: "Offline", Group: "ev", Labels: map[string]string{"alertname": "Offline", "site": "b", "camera": "cb"}, State: "firing", Value: 1},
		{Rule: "Offline", Group: "ev", Labels: map[string]string{"alertname": "Offline", "camera": "nosite"}, State: "firing", Value: 1},
	}
}

// as serves h with p as the authenticated principal (nil: no principal, as without access control).
func as(p *auth.Principal, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p != nil {
			r = r.WithContext(auth.NewContext(r.Context(), *p))
		}
		h.ServeHTTP(w, r)
	})
}

func newRulesServer(t *testing.T, p *auth.Principal) *httptest.Server {
	t.Helper()
	api, err := New(loadTestData(t), Options{Rules: fakeRules{}})
	require.NoError(t, err)
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(as(p, mux))
	t.Cleanup(srv.Close)
	return srv
}

var (
	adminP = &auth.Principal{Kind: auth.KindUser, ID: "admin", Role: auth.RoleAdmin}
	viewA  = &auth.Principal{Kind: auth.KindUser, ID: "va", Role: auth.RoleViewer, Sites: []string{"a"}}
	viewAB = &auth.Principal{Kind: auth.KindUser, ID: "vall", Role: auth.RoleViewer, Sites: []string{auth.AllSitesWildcard}}
)

// TestRulesGolden: the exact RuleDiscovery of an admin, with Prometheus' field names and units (seconds).
func TestRulesGolden(t *testing.T) {
	t.Parallel()
	srv := newRulesServer(t, adminP)
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/rules"})
	require.Equal(t, 200, code, body)
	require.JSONEq(t, `{"status":"success","data":{"groups":[
	 {"name":"g","file":"rules.yaml","interval":60,"limit":0,"evaluationTime":0.002,"lastEvaluation":"2023-11-14T22:13:20Z","rules":[
	  {"state":"firing","name":"HotA","query":"temperature{site=\"a\"} > 30","duration":60,"keepFiringFor":0,
	   "labels":{"severity":"page"},"annotations":{"summary":"hot"},"health":"ok","evaluationTime":0.002,
	   "lastEvaluation":"2023-11-14T22:13:20Z","type":"alerting","alerts":[
	   {"labels":{"alertname":"HotA","site":"a"},"annotations":{},"state":"firing","activeAt":"2023-11-14T22:13:20Z","value":"3.1e+01"}]},
	  {"state":"pending","name":"HotB","query":"temperature{site=\"b\"} > 30","duration":0,"keepFiringFor":0,
	   "labels":{},"annotations":{},"health":"err","lastError":"secret_b_label=\"x\": many-to-many matching","evaluationTime":0,
	   "lastEvaluation":"2023-11-14T22:13:20Z","type":"alerting","alerts":[
	   {"labels":{"alertname":"HotB","secret_b_label":"x","site":"b"},"annotations":{},"state":"pending","activeAt":"2023-11-14T22:13:20Z","value":"3.2e+01"}]}]},
	 {"name":"ev","file":"events.yaml","interval":0,"limit":0,"evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","rules":[
	  {"state":"firing","name":"Offline","query":"event camera_offline","duration":0,"keepFiringFor":60,"labels":{},"annotations":{},
	   "health":"unknown","evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"alerting","alerts":[
	   {"labels":{"alertname":"Offline","camera":"ca","site":"a"},"annotations":{},"state":"firing","value":"NaN"},
	   {"labels":{"alertname":"Offline","camera":"cb","site":"b"},"annotations":{},"state":"firing","value":"1e+00"},
	   {"labels":{"alertname":"Offline","camera":"nosite"},"annotations":{},"state":"firing","value":"1e+00"}]}]}]}}`, body)
}

// ruleFilterCases are the filter parameters of /api/v1/rules and the rule names they leave.
var ruleFilterCases = []struct {
	name string
	form url.Values
	want []string
}{
	{"all", nil, []string{"HotA", "HotB", "Offline"}},
	{"type alert", url.Values{"type": {"alert"}}, []string{"HotA", "HotB", "Offline"}},
	{"type record", url.Values{"type": {"record"}}, nil},
	{"rule_name", url.Values{"rule_name[]": {"HotB", "Offline"}}, []string{"HotB", "Offline"}},
	{"rule_group", url.Values{"rule_group[]": {"ev"}}, []string{"Offline"}},
	{"file", url.Values{"file[]": {"rules.yaml"}}, []string{"HotA", "HotB"}},
	{"match", url.Values{"match[]": {`{severity="page"}`}}, []string{"HotA"}},
}

func TestRulesFilters(t *testing.T) {
	t.Parallel()
	srv := newRulesServer(t, adminP)
	for _, c := range ruleFilterCases {
		t.Run(c.name, func(t *testing.T) {
			code, body, _ := do(t, srv, apiCase{path: "/api/v1/rules", form: c.form})
			require.Equal(t, 200, code, body)
			var got []string
			for _, r := range decodeRules(t, body) {
				got = append(got, r.Name)
			}
			require.Equal(t, c.want, got)
		})
	}
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/rules", form: url.Values{"exclude_alerts": {"true"}}})
	require.Equal(t, 200, code, body)
	require.NotContains(t, body, `"alerts"`)
}

type decodedRule struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	LastError string `json:"lastError"`
	Alerts    []struct {
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func decodeRules(t *testing.T, body string) []decodedRule {
	t.Helper()
	var env struct {
		Data struct {
			Groups []struct {
				Rules []decodedRule `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &env), body)
	var out []decodedRule
	for _, g := range env.Data.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestRulesAndAlertsSiteScoped: a viewer of site a sees no alert of site b (nor without a site) in
// /api/v1/alerts or inside /api/v1/rules, rule states follow only their alerts, and evaluation errors (which
// can name other sites' label values) are not shown to them. Viewers of every site see everything.
func TestRulesAndAlertsSiteScoped(t *testing.T) {
	t.Parallel()
	srv := newRulesServer(t, viewA)
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/alerts"})
	require.Equal(t, 200, code, body)
	var env struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	require.Len(t, env.Data.Alerts, 2, body)
	for _, a := range env.Data.Alerts {
		require.Equal(t, "a", a.Labels["site"], body)
	}
	require.NotContains(t, body, "secret_b_label")

	code, body, _ = do(t, srv, apiCase{path: "/api/v1/rules"})
	require.Equal(t, 200, code, body)
	require.NotContains(t, body, "secret_b_label", "another site's labels leak through the rules")
	require.NotContains(t, body, `"site":"b"`)
	require.NotContains(t, body, "nosite")
	states := map[string]string{}
	for _, r := range decodeRules(t, body) {
		states[r.Name] = r.State
		for _, a := range r.Alerts {
			require.Equal(t, "a", a.Labels["site"], body)
		}
		if r.Name == "HotB" {
			require.Equal(t, scopedRuleError, r.LastError)
		}
	}
	require.Equal(t, map[string]string{"HotA": "firing", "HotB": "inactive", "Offline": "firing"}, states)

	all := newRulesServer(t, viewAB)
	_, body, _ = do(t, all, apiCase{path: "/api/v1/alerts"})
	require.Equal(t, 5, strings.Count(body, `"alertname"`), body)
	_, body, _ = do(t, all, apiCase{path: "/api/v1/rules"})
	require.Contains(t, body, "many-to-many matching")
}

// TestStatusAllSitesOnly: the status endpoints describe every site (series counts by metric, configuration),
// so a principal limited to some sites gets 403 in Prometheus' shape; principals of every site get them.
func TestStatusAllSitesOnly(t *testing.T) {
	t.Parallel()
	db := loadTestData(t)
	for _, c := range []struct {
		p    *auth.Principal
		code int
	}{{viewA, 403}, {viewAB, 200}, {adminP, 200}, {nil, 200}} {
		api, err := New(db, Options{Status: Status{TSDB: db}})
		require.NoError(t, err)
		mux := http.NewServeMux()
		api.Register(mux)
		srv := httptest.NewServer(as(c.p, mux))
		for _, path := range []string{"/api/v1/status/tsdb", "/api/v1/status/config", "/api/v1/status/flags", "/api/v1/status/runtimeinfo"} {
			code, body, _ := do(t, srv, apiCase{path: path})
			require.Equal(t, c.code, code, "%s: %s", path, body)
			if code == 403 {
				require.JSONEq(t, `{"status":"error","errorType":"forbidden","error":"this endpoint describes every site; your account is limited to some"}`, body)
			}
		}
		srv.Close()
	}
}

// TestTSDBStatus: the head statistics are the embedded TSDB's own.
func TestTSDBStatus(t *testing.T) {
	t.Parallel()
	db := loadTestData(t)
	api, err := New(db, Options{Status: Status{TSDB: db}})
	require.NoError(t, err)
	srv := serve(t, api)
	code, body, _ := do(t, srv, apiCase{path: "/api/v1/status/tsdb", form: url.Values{"limit": {"2"}}})
	require.Equal(t, 200, code, body)
	var env struct {
		Data tsdbStatus `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &env))
	h := env.Data.HeadStats
	require.Equal(t, uint64(6), h.NumSeries, body) // temperature and humidity × 2 devices, special × 2
	require.Equal(t, int64(6), h.ChunkCount, body)
	require.Equal(t, int64(baseSec*1000), h.MinTime)
	require.Equal(t, int64(baseSec+600)*1000, h.MaxTime)
	require.Len(t, env.Data.SeriesCountByMetricName, 2, body)
	for _, st := range env.Data.SeriesCountByMetricName { // every metric has 2 series: which 2 come first is the TSDB's choice
		require.Equal(t, uint64(2), st.Value, body)
	}
}
