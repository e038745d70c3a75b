// Package deploy_test checks the Grafana provisioning in deploy/grafana: the data sources and dashboard
// providers are consistent with the dashboards, and every dashboard query works. PromQL queries (panels and
// template variables, with Grafana's macros and variables substituted the way Grafana does) run against a
// whole citywatch started in process and loaded with every contract metric over MQTT; Flux queries are checked
// for the bucket variable and contract measurements, and run against a real influxd fed by citywatch's
// InfluxDB forwarder when influxd is installed.
package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"citywatch/app"
	"citywatch/config"
	"citywatch/internal/testenv"
)

const adminToken = "grafana-test-admin-token-0123456789"

// promQL parses PromQL as citywatch does (dashboards/promapi).
var promQL = parser.NewParser(parser.Options{})

// contractMetrics are the metric names of DESIGN.md's contract: the only measurements Flux dashboards may use.
var contractMetrics = []string{
	"body_temperature", "heart_rate", "temperature", "humidity", "co2", "pm25", "noise", "water_level", "battery",
	"rssi", "camera_up", "camera_fps", "camera_bitrate_bps", "camera_keyframe_interval_seconds",
	"camera_last_frame_age_seconds", "camera_packet_loss_ratio", "camera_motion_score", "camera_tamper",
	"device_last_seen_seconds",
}

// messages load every contract metric, over the default MQTT mapping: JSON objects on device topics, Influx
// line protocol on site topics for the camera metrics (which need the camera, zone and kind labels).
var messages = []struct{ topic, payload string }{
	{"city/d1/siteA/env1", `{"temperature":21.5,"humidity":40,"pm25":12,"noise":55,"water_level":1.2,"co2":650,"battery":3.7,"rssi":-70}`},
	{"city/d1/siteA/wear1", `{"body_temperature":38.4,"heart_rate":96,"battery":3.9}`},
	{"city/d1/siteA/wear2", `{"body_temperature":36.8,"heart_rate":71,"battery":4.0}`},
	{"city/d2/siteB/env2", `{"temperature":19,"humidity":55,"pm25":30,"noise":61,"water_level":2.5,"battery":3.5,"rssi":-80}`},
	{"city/d1/siteA", "camera,camera=cam1 up=1,fps=25,bitrate_bps=2000000,keyframe_interval_seconds=2,last_frame_age_seconds=0.04,packet_loss_ratio=0.001\n" +
		"camera,camera=cam1,zone=door motion_score=0.2\n" +
		"camera,camera=cam1,kind=black tamper=0\n" +
		"camera,camera=cam2 up=0,fps=0,bitrate_bps=0,keyframe_interval_seconds=0,last_frame_age_seconds=42,packet_loss_ratio=0\n" +
		"camera,camera=cam2,zone=gate motion_score=0\n" +
		"camera,camera=cam2,kind=covered tamper=1"},
}

// ---------------------------------------------------------------- dashboard model

type dashboard struct {
	file       string
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *dsRef `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // collapsed rows
}

type target struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`  // Prometheus
	Query      string `json:"query"` // Flux
	Instant    bool   `json:"instant"`
	Datasource *dsRef `json:"datasource"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	RawQuery   json.RawMessage `json:"query"`
	Datasource *dsRef          `json:"datasource"`
	AllValue   string          `json:"allValue"`
	IncludeAll bool            `json:"includeAll"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// query is the variable's query text: a string (Flux, textbox, datasource type) or Prometheus' query object.
func (v variable) query() string {
	var s string
	if json.Unmarshal(v.RawQuery, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.RawQuery, &o)
	return o.Query
}

// datasourceVar is the dashboard's data source variable: its plugin type and default uid.
func (d *dashboard) datasourceVar() (typ, uid string) {
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			return v.query(), fmt.Sprint(v.Current.Value)
		}
	}
	return "", ""
}

// allPanels flattens rows.
func (d *dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

func loadDashboards(t *testing.T, dir string) []*dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("dashboards", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no dashboards in dashboards/%s", dir)
	}
	var out []*dashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{file: f}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		if err := dec.Decode(d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// ---------------------------------------------------------------- Grafana variable substitution

// varRE matches $name, ${name} and ${name:format} (Grafana's variable syntax; [[name]] is deprecated and not
// used here).
var varRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::([a-z]+))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// promMacros are Grafana's built-in Prometheus macros with values a 1h dashboard would get.
var promMacros = map[string]string{
	"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000", "__range": "1h", "__range_s": "3600",
	"__range_ms": "3600000",
}

// substitute replaces Grafana variables in q with vals, regex-escaping values for the :regex format. An
// unknown variable is an error: Grafana would leave it in the query.
func substitute(q string, vals map[string]string) (string, error) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(q, func(m string) string {
		g := varRE.FindStringSubmatch(m)
		name, format := g[1], g[2]
		if name == "" {
			name = g[3]
		}
		v, ok := vals[name]
		if !ok {
			v, ok = promMacros[name]
		}
		if !ok {
			missing = append(missing, name)
			return m
		}
		if format == "regex" && v != ".*" {
			v = regexp.QuoteMeta(v)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown variables %v", missing)
	}
	return out, nil
}

// ---------------------------------------------------------------- provisioning

type provisionedDS struct {
	Name           string            `yaml:"name"`
	UID            string            `yaml:"uid"`
	Type           string            `yaml:"type"`
	URL            string            `yaml:"url"`
	JSONData       map[string]any    `yaml:"jsonData"`
	SecureJSONData map[string]string `yaml:"secureJsonData"`
}

func readDatasources(t *testing.T) map[string]provisionedDS {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("provisioning", "datasources", "*.yaml"))
	out := map[string]provisionedDS{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			APIVersion  int             `yaml:"apiVersion"`
			Datasources []provisionedDS `yaml:"datasources"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", f, doc.APIVersion)
		}
		for _, ds := range doc.Datasources {
			if _, dup := out[ds.UID]; dup || ds.UID == "" {
				t.Errorf("%s: data source %q: uid %q empty or duplicated", f, ds.Name, ds.UID)
			}
			if !strings.HasPrefix(ds.URL, "${") {
				t.Errorf("%s: data source %q: url %q should come from the environment", f, ds.Name, ds.URL)
			}
			out[ds.UID] = ds
		}
	}
	return out
}

// TestProvisioning: the data sources the dashboards default to are provisioned with the right type, the
// citywatch one authenticates with the Grafana token from the environment, and the dashboard providers load
// exactly the dashboard directories.
func TestProvisioning(t *testing.T) {
	t.Parallel()
	dss := readDatasources(t)
	cw, ok := dss["citywatch"]
	if !ok {
		t.Fatal("no data source with uid citywatch")
	}
	if cw.Type != "prometheus" || cw.URL != "${CITYWATCH_URL}" {
		t.Errorf("citywatch data source: type %q url %q", cw.Type, cw.URL)
	}
	if cw.JSONData["httpHeaderName1"] != "Authorization" || cw.SecureJSONData["httpHeaderValue1"] != "Bearer ${CITYWATCH_GRAFANA_TOKEN}" {
		t.Errorf("citywatch data source must send Authorization: Bearer ${CITYWATCH_GRAFANA_TOKEN}, got %v / %v", cw.JSONData, cw.SecureJSONData)
	}
	for uid, ds := range dss {
		for k, v := range ds.JSONData {
			if strings.Contains(strings.ToLower(k), "token") || strings.Contains(fmt.Sprint(v), "Bearer") {
				t.Errorf("data source %s: secret-looking jsonData.%s: secrets belong in secureJsonData", uid, k)
			}
		}
	}

	data, err := os.ReadFile(filepath.Join("provisioning", "dashboards", "citywatch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Providers []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(data, &prov); err != nil {
		t.Fatal(err)
	}
	const mount = "/var/lib/grafana/dashboards/"
	var dirs []string
	for _, p := range prov.Providers {
		if p.Type != "file" || !strings.HasPrefix(p.Options.Path, mount) {
			t.Errorf("provider %s: type %q path %q, want a file provider under %s", p.Name, p.Type, p.Options.Path, mount)
			continue
		}
		dirs = append(dirs, strings.TrimPrefix(p.Options.Path, mount))
	}
	entries, err := os.ReadDir("dashboards")
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range entries {
		if e.IsDir() {
			have = append(have, e.Name())
		}
	}
	sort.Strings(dirs)
	if !slices.Equal(dirs, have) {
		t.Errorf("providers load %v, dashboards/ has %v", dirs, have)
	}

	uids := map[string]string{}
	for _, dir := range have {
		for _, d := range loadDashboards(t, dir) {
			checkDashboard(t, d, dss)
			if prev, dup := uids[d.UID]; dup {
				t.Errorf("%s: uid %q also used by %s", d.file, d.UID, prev)
			}
			uids[d.UID] = d.file
		}
	}
}

// checkDashboard checks one dashboard's structure: a data source variable defaulting to a provisioned data
// source of the right type, panels and targets that use it, unique panel ids, and a layout inside the grid.
func checkDashboard(t *testing.T, d *dashboard, dss map[string]provisionedDS) {
	t.Helper()
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: no uid or title", d.file)
	}
	typ, uid := d.datasourceVar()
	ds, ok := dss[uid]
	if !ok || ds.Type != typ {
		t.Errorf("%s: data source variable defaults to %q (%s), which is not a provisioned data source of that type", d.file, uid, typ)
	}
	ids := map[int]bool{}
	for _, p := range d.allPanels() {
		where := fmt.Sprintf("%s: panel %d %q", d.file, p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", where)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", where, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		for _, ref := range append([]*dsRef{p.Datasource}, targetDatasources(p)...) {
			if ref == nil || ref.UID != "${datasource}" || ref.Type != typ {
				t.Errorf("%s: data source %+v, want {%s ${datasource}}", where, ref, typ)
			}
		}
	}
}

func targetDatasources(p panel) []*dsRef {
	var out []*dsRef
	for _, tg := range p.Targets {
		out = append(out, tg.Datasource)
	}
	return out
}

// ---------------------------------------------------------------- citywatch in process

type platform struct {
	httpURL string
	broker  string
	app     *app.App
}

// startCitywatch runs the whole platform (app.New + Run) on free loopback ports until the test ends, with
// cfg adjusted by tweak.
func startCitywatch(t *testing.T, tweak func(*config.Config)) *platform {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Listen = testenv.FreePort(t)
	cfg.Broker.Listen = testenv.FreePort(t)
	cfg.Broker.AllowAnonymous = true
	if tweak != nil {
		tweak(cfg)
	}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("citywatch run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("citywatch did not stop within 60s of cancel")
		}
	})
	p := &platform{httpURL: "http://" + cfg.HTTP.Listen, broker: cfg.Broker.Listen, app: a}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("citywatch stopped: %v", err)
		default:
		}
		resp, err := http.Get(p.httpURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("citywatch not ready after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publish sends messages with a real MQTT client to the embedded broker, at QoS 1.
func (p *platform) publish(t *testing.T) {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + p.broker).SetClientID("grafana-test").
		SetConnectTimeout(10 * time.Second).SetAutoReconnect(false)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	for _, m := range messages {
		if tok := c.Publish(m.topic, 1, false, m.payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", m.topic, tok.Error())
		}
	}
}

// promResponse is the Prometheus API envelope.
type promResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

// api calls a Prometheus API endpoint of citywatch with the bearer token, returning the data of a successful
// answer.
func (p *platform) api(path string, params url.Values) (json.RawMessage, error) {
	req, err := http.NewRequest(http.MethodGet, p.httpURL+path+"?"+params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %s: not a Prometheus answer: %.200s", path, resp.Status, body)
	}
	if resp.StatusCode != http.StatusOK || r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s: %s", path, resp.Status, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// queryRange runs a range query over the last 10 minutes and returns the number of series.
func (p *platform) queryRange(q string) (int, error) {
	now := time.Now()
	data, err := p.api("/api/v1/query_range", url.Values{
		"query": {q}, "start": {ts(now.Add(-10 * time.Minute))}, "end": {ts(now.Add(time.Minute))}, "step": {"15"},
	})
	if err != nil {
		return 0, err
	}
	return countResult(data)
}

// query runs an instant query now and returns the number of series.
func (p *platform) query(q string) (int, error) {
	data, err := p.api("/api/v1/query", url.Values{"query": {q}, "time": {ts(time.Now())}})
	if err != nil {
		return 0, err
	}
	return countResult(data)
}

func ts(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }

func countResult(data json.RawMessage) (int, error) {
	var d struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, err
	}
	return len(d.Result), nil
}

// labelValuesRE parses Grafana's label_values([selector,] label).
var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// labelValues runs a Grafana label_values() variable query the way Grafana's Prometheus data source does:
// /api/v1/label/<name>/values without a selector, /api/v1/series with one.
func (p *platform) labelValues(q string) ([]string, error) {
	m := labelValuesRE.FindStringSubmatch(q)
	if m == nil {
		return nil, fmt.Errorf("not a label_values() query: %q", q)
	}
	selector, label := m[1], m[2]
	now := time.Now()
	window := url.Values{"start": {ts(now.Add(-time.Hour))}, "end": {ts(now.Add(time.Minute))}}
	if selector == "" {
		data, err := p.api("/api/v1/label/"+label+"/values", window)
		if err != nil {
			return nil, err
		}
		var vals []string
		return vals, json.Unmarshal(data, &vals)
	}
	if _, err := promQL.ParseMetricSelector(selector); err != nil {
		return nil, fmt.Errorf("selector %q: %w", selector, err)
	}
	window["match[]"] = []string{selector}
	data, err := p.api("/api/v1/series", window)
	if err != nil {
		return nil, err
	}
	var series []map[string]string
	if err := json.Unmarshal(data, &series); err != nil {
		return nil, err
	}
	var vals []string
	for _, s := range series {
		if v := s[label]; v != "" && !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	sort.Strings(vals)
	return vals, nil
}

// ---------------------------------------------------------------- PromQL dashboards

// selfDashboard charts citywatch's own /metrics through a Prometheus that scrapes it (data source
// citywatch-self); its queries cannot run against citywatch's TSDB.
const selfDatasource = "citywatch-self"

// TestPrometheusDashboardsAgainstCitywatch runs every PromQL query of every dashboard against a citywatch
// loaded with every contract metric: variables resolve in order from their own label_values() queries (each
// must find values), and every panel query must succeed and return series.
func TestPrometheusDashboardsAgainstCitywatch(t *testing.T) {
	t.Parallel()
	dashboards := loadDashboards(t, "prometheus")
	p := startCitywatch(t, nil)
	p.publish(t)

	// Wait until every published metric and the periodic device_last_seen_seconds export are queryable.
	want := len(contractMetrics)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := p.query(`count by (__name__) ({__name__=~"` + strings.Join(contractMetrics, "|") + `"})`)
		if err == nil && n == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d contract metrics queryable after 30s (err %v)", n, want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	selfNames := selfMetricNames(t, p)
	for _, d := range dashboards {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			_, dsUID := d.datasourceVar()
			self := dsUID == selfDatasource
			vals := map[string]string{"datasource": dsUID}
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				q, err := substitute(v.query(), vals)
				if err != nil {
					t.Errorf("variable %s: %v", v.Name, err)
					continue
				}
				if self {
					checkLabelValuesSyntax(t, v.Name, q, selfNames)
					vals[v.Name] = ".*"
					continue
				}
				got, err := p.labelValues(q)
				if err != nil {
					t.Errorf("variable %s: %s: %v", v.Name, q, err)
					continue
				}
				if len(got) == 0 {
					t.Errorf("variable %s: %s found no values", v.Name, q)
					continue
				}
				vals[v.Name] = got[0] // a concrete value, as a user picking the first entry
			}
			for _, pn := range d.allPanels() {
				for _, tg := range pn.Targets {
					where := fmt.Sprintf("panel %q %s", pn.Title, tg.RefID)
					if tg.Expr == "" {
						t.Errorf("%s: no expr", where)
						continue
					}
					q, err := substitute(tg.Expr, vals)
					if err != nil {
						t.Errorf("%s: %v", where, err)
						continue
					}
					expr, err := promQL.ParseExpr(q)
					if err != nil {
						t.Errorf("%s: %s: %v", where, q, err)
						continue
					}
					if self {
						checkSelfNames(t, where, expr, selfNames)
						continue
					}
					n, err := p.queryRange(q)
					if err != nil {
						t.Errorf("%s: query_range %s: %v", where, q, err)
						continue
					}
					if n == 0 {
						t.Errorf("%s: query_range %s returned no series, though every contract metric is loaded", where, q)
					}
					if tg.Instant {
						if n, err := p.query(q); err != nil || n == 0 {
							t.Errorf("%s: instant query %s: %d series, %v", where, q, n, err)
						}
					}
				}
			}
		})
	}
}

// selfMetricNames are the metric names citywatch serves at /metrics (histograms with their _bucket, _sum
// and _count series), plus the self-metric names its non-test Go sources define: vectors with no child yet
// (no delivery, no rejection) are not exposed until first used.
func selfMetricNames(t *testing.T, p *platform) map[string]bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.httpURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		names[name] = true
	}
	defined := regexp.MustCompile(`"(citywatch_[a-z0-9_]+)"`)
	// store/forward defines the durable forwarders' metrics as Prefix + suffix: the prefixes its callers pass
	// and the suffixes it appends make the names.
	prefix := regexp.MustCompile(`Prefix:\s*"(citywatch_[a-z0-9_]+)"`)
	suffix := regexp.MustCompile(`(?:o\.Prefix \+ |(?:gauge|counter)\()"(_[a-z0-9_]+)"`)
	var prefixes, suffixes []string
	_ = filepath.WalkDir("../..", func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() && strings.HasPrefix(e.Name(), ".") && path != "../.." {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, m := range defined.FindAllSubmatch(src, -1) {
			n := string(m[1])
			if !names[n] {
				names[n+"#defined"] = true
			}
		}
		for _, m := range prefix.FindAllSubmatch(src, -1) {
			prefixes = append(prefixes, string(m[1]))
		}
		if filepath.Base(filepath.Dir(path)) == "forward" {
			for _, m := range suffix.FindAllSubmatch(src, -1) {
				suffixes = append(suffixes, string(m[1]))
			}
		}
		return nil
	})
	for _, p := range prefixes {
		for _, s := range suffixes {
			if !names[p+s] {
				names[p+s+"#defined"] = true
			}
		}
	}
	return names
}

// checkSelfNames requires every metric a citywatch-self query reads to be a self metric citywatch exposes.
func checkSelfNames(t *testing.T, where string, expr parser.Expr, names map[string]bool) {
	t.Helper()
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if names[name] {
			return nil
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && names[base+"#defined"] {
				return nil
			}
		}
		if names[name+"#defined"] {
			return nil
		}
		t.Errorf("%s: metric %q is neither served at /metrics nor defined by citywatch", where, name)
		return nil
	})
}

func checkLabelValuesSyntax(t *testing.T, name, q string, selfNames map[string]bool) {
	t.Helper()
	m := labelValuesRE.FindStringSubmatch(q)
	if m == nil {
		t.Errorf("variable %s: not a label_values() query: %q", name, q)
		return
	}
	if m[1] != "" {
		expr, err := promQL.ParseExpr(m[1])
		if err != nil {
			t.Errorf("variable %s: %v", name, err)
			return
		}
		checkSelfNames(t, "variable "+name, expr, selfNames)
	}
}

// ---------------------------------------------------------------- Flux dashboards

var (
	fromBucketRE  = regexp.MustCompile(`from\(bucket:\s*"\$\{bucket\}"\)`)
	measurementRE = regexp.MustCompile(`r\._measurement\s*==\s*"([^"]*)"`)
)

// fluxQueries returns every Flux query of d (panel targets and query variables) with where it is.
func fluxQueries(d *dashboard) (vars []variable, panels map[string]string) {
	panels = map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			vars = append(vars, v)
		}
	}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			panels[fmt.Sprintf("panel %q %s", p.Title, tg.RefID)] = tg.Query
		}
	}
	return vars, panels
}

// TestFluxDashboardsStatic checks what can be checked without InfluxDB: each dashboard has a bucket variable
// defaulting to the compose bucket, and every query reads that bucket, only contract measurements, and the
// single field "value" citywatch writes.
func TestFluxDashboardsStatic(t *testing.T) {
	t.Parallel()
	for _, d := range loadDashboards(t, "influxdb") {
		hasBucket := false
		for _, v := range d.Templating.List {
			if v.Name == "bucket" && v.query() == "citywatch" {
				hasBucket = true
			}
		}
		if !hasBucket {
			t.Errorf("%s: no bucket variable defaulting to citywatch", d.file)
		}
		vars, panels := fluxQueries(d)
		all := map[string]string{}
		for _, v := range vars {
			all["variable "+v.Name] = v.query()
		}
		for k, v := range panels {
			all[k] = v
		}
		for where, q := range all {
			where = d.file + ": " + where
			if !fromBucketRE.MatchString(q) {
				t.Errorf("%s: does not read from(bucket: \"${bucket}\"):\n%s", where, q)
			}
			ms := measurementRE.FindAllStringSubmatch(q, -1)
			if len(ms) == 0 {
				t.Errorf("%s: filters no measurement", where)
			}
			for _, m := range ms {
				if !slices.Contains(contractMetrics, m[1]) {
					t.Errorf("%s: measurement %q is not a contract metric", where, m[1])
				}
			}
			if !strings.Contains(q, `r._field == "value"`) {
				t.Errorf(`%s: does not select field "value"`, where)
			}
			if strings.Count(q, "(") != strings.Count(q, ")") || strings.Count(q, "[") != strings.Count(q, "]") {
				t.Errorf("%s: unbalanced brackets", where)
			}
			if _, err := substitute(q, map[string]string{"bucket": "b", "district": ".*", "site": ".*", "device": ".*", "camera": ".*"}); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
	}
}

// fluxMacros are Grafana's InfluxDB (Flux) time macros, replaced by literals for a 1h dashboard.
var fluxMacros = strings.NewReplacer("v.timeRangeStart", "-1h", "v.timeRangeStop", "now()", "v.windowPeriod", "1m")

// TestFluxDashboardsAgainstInfluxDB runs every Flux query against a real influxd that citywatch's InfluxDB
// forwarder filled from the same MQTT messages: variables resolve from their queries, panels return rows.
func TestFluxDashboardsAgainstInfluxDB(t *testing.T) {
	t.Parallel()
	dashboards := loadDashboards(t, "influxdb")
	srv := testenv.Influxd(t, testenv.WithFlux())
	p := startCitywatch(t, func(c *config.Config) {
		c.Edge.Name = "edge-grafana-test"
		c.Storage.Influx.URL = srv.URL
		c.Storage.Influx.Org = srv.Org
		c.Storage.Influx.Bucket = srv.Bucket
	})
	p.publish(t)
	deadline := time.Now().Add(60 * time.Second)
	for _, m := range contractMetrics {
		for {
			n, err := srv.Count(m, `"edge" = 'edge-grafana-test'`)
			if err == nil && n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("measurement %s not in InfluxDB after 60s (n=%d, err %v)", m, n, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, d := range dashboards {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			vals := map[string]string{"bucket": srv.Bucket}
			vars, panels := fluxQueries(d)
			for _, v := range vars {
				q, err := substitute(v.query(), vals)
				if err != nil {
					t.Errorf("variable %s: %v", v.Name, err)
					continue
				}
				rows, err := srv.Flux(fluxMacros.Replace(q))
				if err != nil {
					t.Errorf("variable %s: %v\n%s", v.Name, err, q)
					continue
				}
				var got []string
				for _, r := range rows {
					if r["_value"] != "" {
						got = append(got, r["_value"])
					}
				}
				if len(got) == 0 {
					t.Errorf("variable %s found no values:\n%s", v.Name, q)
					continue
				}
				sort.Strings(got)
				vals[v.Name] = got[0]
			}
			names := make([]string, 0, len(panels))
			for k := range panels {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, where := range names {
				q, err := substitute(panels[where], vals)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				rows, err := srv.Flux(fluxMacros.Replace(q))
				if err != nil {
					t.Errorf("%s: %v\n%s", where, err, q)
					continue
				}
				if len(rows) == 0 {
					t.Errorf("%s: no rows, though every contract metric is loaded:\n%s", where, q)
				}
			}
		})
	}
}

// provisioningEnvRE matches the ${NAME} references Grafana expands in provisioning files.
var provisioningEnvRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// TestComposeGrafanaEnvironment: a docker compose service that mounts this provisioning directory must set
// every environment variable the data sources read, or Grafana provisions them with empty URLs and tokens.
func TestComposeGrafanaEnvironment(t *testing.T) {
	t.Parallel()
	var needed []string
	files, _ := filepath.Glob(filepath.Join("provisioning", "datasources", "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range provisioningEnvRE.FindAllStringSubmatch(line, -1) {
				if !slices.Contains(needed, m[1]) {
					needed = append(needed, m[1])
				}
			}
		}
	}
	sort.Strings(needed)
	want, err := filepath.Abs("provisioning")
	if err != nil {
		t.Fatal(err)
	}
	composeFiles, _ := filepath.Glob(filepath.Join("..", "compose", "*.yaml"))
	mounted := 0
	for _, f := range composeFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Services map[string]struct {
				Volumes     []any `yaml:"volumes"`
				Environment any   `yaml:"environment"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			continue // not a compose file (a citywatch configuration)
		}
		for name, svc := range doc.Services {
			if !mountsDir(f, svc.Volumes, want) {
				continue
			}
			mounted++
			env := composeEnvNames(svc.Environment)
			for _, n := range needed {
				if !slices.Contains(env, n) {
					t.Errorf("%s: service %s mounts deploy/grafana/provisioning but does not set %s", f, name, n)
				}
			}
		}
	}
	if mounted == 0 {
		t.Logf("no compose service mounts deploy/grafana/provisioning yet; it needs %v", needed)
	}
}

// mountsDir reports whether a compose volume list bind-mounts dir (absolute) from file's directory.
func mountsDir(file string, vols []any, dir string) bool {
	for _, v := range vols {
		var src string
		switch x := v.(type) {
		case string:
			src, _, _ = strings.Cut(x, ":")
		case map[string]any:
			src, _ = x["source"].(string)
		}
		if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
			continue
		}
		abs, err := filepath.Abs(filepath.Join(filepath.Dir(file), src))
		if err == nil && abs == dir {
			return true
		}
	}
	return false
}

// composeEnvNames lists the variable names of a compose environment (map or KEY=VALUE list).
func composeEnvNames(env any) []string {
	var out []string
	switch x := env.(type) {
	case map[string]any:
		for k := range x {
			out = append(out, k)
		}
	case []any:
		for _, e := range x {
			k, _, _ := strings.Cut(fmt.Sprint(e), "=")
			out = append(out, k)
		}
	}
	return out
}
