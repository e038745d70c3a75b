package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"citywatch/alerts"
	"citywatch/config"
	"citywatch/dashboards/auth"
	"citywatch/internal/testenv"
)

// centreRules is the centre's rule file: one rule over every edge's sites.
const centreRules = `groups:
  - name: city
    rules:
      - alert: HotRoom
        expr: temperature > 30
        labels: {severity: warning}
`

// startCentre runs a centre citywatch whose storage.query points at vmURL, with centreRules, and returns it
// with an admin token and a token of a health_staff user of site-a.
func startCentre(t *testing.T, vmURL string) (a *App, admin, staffA string) {
	t.Helper()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(centreRules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir)
	cfg.Storage.Query.URL = vmURL
	cfg.Storage.Query.Edges = map[string]string{"edge-1": "https://edge-1.example.org"}
	cfg.Alerts.RuleFiles = []string{rules}
	cfg.Alerts.EvalInterval = config.Duration(500 * time.Millisecond)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	const adminToken = "centre-test-admin-token-0123456789"
	a = runApp(t, cfg, Options{PasswordHashing: testHashing, AdminToken: adminToken})
	staffA, err := a.auth.IssueToken(context.Background(), "staff-a", auth.RoleHealthStaff, []string{"site-a"}, false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return a, adminToken, staffA
}

// getJSON GETs path from a with token and returns the body of a 200 answer.
func getJSON(t *testing.T, a *App, token, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

// assertCentre checks what a centre over two edges (edge-1 with site-a, edge-2 with site-b, both forwarding
// temperature 35, camera_up and device_last_seen_seconds) must do: answer for both edges' sites, confine a
// site-a user to site-a on every endpoint, list both edges' cameras and devices, and fire a rule over both.
func assertCentre(t *testing.T, a *App, admin, staffA string) {
	t.Helper()
	q := func(expr string) string { return "/api/v1/query?query=" + url.QueryEscape(expr) }
	body := getJSON(t, a, admin, q(`temperature`))
	for _, want := range []string{`"site":"site-a"`, `"site":"site-b"`, `"edge":"edge-1"`, `"edge":"edge-2"`} {
		if !strings.Contains(body, want) {
			t.Errorf("admin: temperature lacks %s: %s", want, body)
		}
	}
	if body := getJSON(t, a, staffA, q(`temperature`)); !strings.Contains(body, `"site":"site-a"`) {
		t.Errorf("staff-a does not see site-a: %s", body)
	}
	for _, path := range []string{
		q(`temperature`), q(`{__name__=~".+"}`), q(`temperature{site="site-b"}`), q(`sum by (site) (temperature)`),
		"/api/v1/query_range?step=15&start=" + fmt.Sprint(time.Now().Add(-time.Hour).Unix()) + "&end=" +
			fmt.Sprint(time.Now().Unix()) + "&query=" + url.QueryEscape(`max_over_time(temperature[5m:1m])`),
		"/api/v1/series?match[]=" + url.QueryEscape(`{__name__=~".+"}`),
		"/api/v1/series?match[]=" + url.QueryEscape(`{site="site-b"}`),
		"/api/v1/labels", "/api/v1/label/site/values", "/api/v1/label/edge/values",
		"/api/v1/label/device/values?match[]=" + url.QueryEscape(`temperature`),
	} {
		body := getJSON(t, a, staffA, path)
		for _, leak := range []string{"site-b", "edge-2", "sensor-b"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s leaks %s to a site-a user: %s", path, leak, body)
			}
		}
	}
	cams := getJSON(t, a, admin, "/api/cameras")
	for _, want := range []string{`"id":"cam-a"`, `"id":"cam-b"`, `"live_url":"https://edge-1.example.org/#/camera/cam-a"`} {
		if !strings.Contains(cams, want) {
			t.Errorf("/api/cameras lacks %s: %s", want, cams)
		}
	}
	if cams := getJSON(t, a, staffA, "/api/cameras"); strings.Contains(cams, "cam-b") || !strings.Contains(cams, "cam-a") {
		t.Errorf("staff-a cameras: %s", cams)
	}
	devs := getJSON(t, a, admin, "/api/devices")
	if !strings.Contains(devs, "sensor-a") || !strings.Contains(devs, "sensor-b") {
		t.Errorf("/api/devices lacks an edge's device: %s", devs)
	}
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() string { // polling the rule evaluation
		list, err := a.alerts.Alerts(context.Background(), alerts.AlertFilter{State: alerts.StateFiring})
		if err != nil {
			return err.Error()
		}
		sites := map[string]bool{}
		for _, al := range list {
			if al.Rule == "HotRoom" {
				sites[al.Labels["site"]] = true
			}
		}
		if sites["site-a"] && sites["site-b"] {
			return ""
		}
		return fmt.Sprintf("HotRoom fires for %v, want site-a and site-b; rules: %+v", sites, a.alerts.Rules())
	})
	var values struct{ Data []string }
	if err := json.Unmarshal([]byte(getJSON(t, a, staffA, "/api/v1/label/site/values")), &values); err != nil {
		t.Fatal(err)
	}
	if strings.Join(values.Data, ",") != "site-a" {
		t.Errorf("staff-a site values = %q, want [site-a]", values.Data)
	}
}

// TestCentreOverVictoriaMetrics: two edges' samples (as their remote write delivers them, with the edge label)
// in a real VictoriaMetrics; a centre with storage.query pointed at it.
func TestCentreOverVictoriaMetrics(t *testing.T) {
	vm := testenv.VictoriaMetrics(t)
	now := time.Now().UnixMilli()
	var b strings.Builder
	for _, e := range []struct{ edge, site, x string }{{"edge-1", "site-a", "a"}, {"edge-2", "site-b", "b"}} {
		fmt.Fprintf(&b, "temperature{edge=%q,site=%q,device=\"sensor-%s\"} 35 %d\n", e.edge, e.site, e.x, now)
		fmt.Fprintf(&b, "camera_up{edge=%q,site=%q,camera=\"cam-%s\"} 1 %d\n", e.edge, e.site, e.x, now)
		fmt.Fprintf(&b, "device_last_seen_seconds{edge=%q,site=%q,device=\"sensor-%s\"} 2 %d\n", e.edge, e.site, e.x, now)
	}
	vm.ImportText(t, b.String(), 6)
	a, admin, staffA := startCentre(t, vm.URL)
	assertCentre(t, a, admin, staffA)
}

func pollUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	testenv.Eventually(t, timeout, 50*time.Millisecond, func() string {
		if ok() {
			return ""
		}
		return "waiting for " + what
	})
}

// startEdge runs an edge citywatch named name that remote-writes everything to vmURL (storage.remote_write).
func startEdge(t *testing.T, name, vmURL string) *App {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.Edge.Name = name
	rw := config.DefaultRemoteWrite()
	rw.Name, rw.URL = "vm", vmURL+"/api/v1/write"
	rw.FlushInterval = config.Duration(100 * time.Millisecond)
	cfg.Storage.RemoteWrite = []config.RemoteWriteConfig{rw}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	return runApp(t, cfg, Options{PasswordHashing: testHashing})
}

// TestCentreTwoEdgesRemoteWrite is the city-wide setup end to end: two edge citywatch instances ingest their
// site's sensors over MQTT and remote-write to a real VictoriaMetrics; a centre with storage.query pointed at
// it answers for both edges' sites, scoped per user, and fires a rule over both.
func TestCentreTwoEdgesRemoteWrite(t *testing.T) {
	vm := testenv.VictoriaMetrics(t)
	edges := []struct{ name, site, x string }{{"edge-1", "site-a", "a"}, {"edge-2", "site-b", "b"}}
	for _, e := range edges {
		a := startEdge(t, e.name, vm.URL)
		c := mqttClient(t, a, "sensors-"+e.x)
		tok := c.Publish(fmt.Sprintf("city/d1/%s/sensor-%s", e.site, e.x), 1, false, `{"temperature":35}`)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	// Cameras are not simulated here: the camera_up rows their edges would forward go straight in.
	now := time.Now().UnixMilli()
	var b strings.Builder
	for _, e := range edges {
		fmt.Fprintf(&b, "camera_up{edge=%q,site=%q,camera=\"cam-%s\"} 1 %d\n", e.name, e.site, e.x, now)
	}
	vm.ImportText(t, b.String(), 2)
	centre, admin, staffA := startCentre(t, vm.URL)
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last answer: %s", last)
		}
	}()
	pollUntil(t, 60*time.Second, "both edges' series at the centre", func() bool {
		last = getJSON(t, centre, admin, "/api/v1/query?query="+url.QueryEscape(`{__name__=~"temperature|device_last_seen_seconds|camera_up"}`))
		return strings.Count(last, `"edge":"edge-1"`) >= 3 && strings.Count(last, `"edge":"edge-2"`) >= 3
	})
	assertCentre(t, centre, admin, staffA)
}
