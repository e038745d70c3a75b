package dashboards

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/promapi"
	"citywatch/store"
	"citywatch/store/tsdb"
)

// scopeCases are requests a health_staff user of site "a" makes, some of them attempts to get around the
// scoping; none may return anything of site "b" or of series without a site.
var scopeCases = []string{
	"/api/v1/query?query=" + url.QueryEscape(`temperature`),
	"/api/v1/query?query=" + url.QueryEscape(`{__name__=~".+"}`),
	"/api/v1/query?query=" + url.QueryEscape(`sum by (site, secret_b_label) (temperature or nosite_metric)`),
	"/api/v1/query?query=" + url.QueryEscape(`temperature{site="b"}`),
	"/api/v1/query_range?step=15&start=" + strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10) + "&end=" +
		strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10) + "&query=" + url.QueryEscape(`max_over_time(temperature[5m:1m])`),
	"/api/v1/series?match[]=" + url.QueryEscape(`temperature{__name__=~".+"}`),
	"/api/v1/series?match[]=" + url.QueryEscape(`{site=~".+"}`),
	"/api/v1/series?match[]=" + url.QueryEscape(`nosite_metric{"nosite_metric"}`),
	"/api/v1/labels",
	"/api/v1/labels?match[]=" + url.QueryEscape(`temperature{__name__=~".+"}`),
	"/api/v1/label/site/values",
	"/api/v1/label/site/values?match[]=" + url.QueryEscape(`temperature{__name__="temperature"}`),
	"/api/v1/label/device/values",
}

// TestPrometheusAPIScopedToSites runs the real Prometheus API over a real TSDB holding two sites' series and a
// series without a site, given to promapi.New as is (scoping is by construction): a user limited to site "a" sees only site a, whatever the endpoint or query grammar;
// an admin sees everything.
func TestPrometheusAPIScopedToSites(t *testing.T) {
	db, err := tsdb.Open(tsdb.Config{Dir: t.TempDir()}, tsdb.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixMilli()
	err = db.Append(context.Background(), []store.Sample{
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "x"}, {Name: "site", Value: "a"}}, T: now, V: 1},
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "y"}, {Name: "secret_b_label", Value: "1"}, {Name: "site", Value: "b"}}, T: now, V: 2},
		{Name: "nosite_metric", Labels: []store.Label{{Name: "device", Value: "z"}}, T: now, V: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := promapi.New(db, promapi.Options{}) // the raw TSDB: New scopes it, no caller can forget to
	if err != nil {
		t.Fatal(err)
	}
	assertScopedToSites(t, api)
}

// assertScopedToSites runs scopeCases through api behind access control, over storage holding temperature of
// site a (device x) and site b (device y, label secret_b_label) and nosite_metric without a site (device z).
func assertScopedToSites(t *testing.T, api Mounter) {
	t.Helper()
	a, _, _ := newTestAuth(t, auth.Config{})
	s, err := New(Config{}, Deps{PromAPI: api, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	staff, _ := a.IssueToken(ctx, "staff", auth.RoleHealthStaff, []string{"a"}, false, time.Hour)
	admin, _ := a.IssueToken(ctx, "admin", auth.RoleAdmin, nil, false, time.Hour)
	get := func(token, path string) string {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 {
			t.Errorf("%s: %d %s", path, rec.Code, body)
		}
		var r struct{ Status string }
		if json.Unmarshal(body, &r) != nil || r.Status != "success" {
			t.Errorf("%s: %s", path, body)
		}
		return string(body)
	}
	for _, path := range scopeCases {
		body := get(staff, path)
		for _, leak := range []string{`"b"`, "secret_b_label", "nosite_metric", `"y"`, `"z"`} {
			if strings.Contains(body, leak) {
				t.Errorf("%s leaks %s to a site-a user: %s", path, leak, body)
			}
		}
	}
	if body := get(staff, "/api/v1/query?query=temperature"); !strings.Contains(body, `"device":"x"`) {
		t.Errorf("the site-a user does not see site a: %s", body)
	}
	if body := get(admin, "/api/v1/series?match[]="+url.QueryEscape(`{__name__=~".+"}`)); !strings.Contains(body, "secret_b_label") || !strings.Contains(body, "nosite_metric") {
		t.Errorf("the admin does not see everything: %s", body)
	}
}
