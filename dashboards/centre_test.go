package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/promapi"
	"citywatch/dashboards/promapi/promscope"
	"citywatch/internal/testenv"
	"citywatch/store/remotequery"
)

// TestPrometheusAPIScopedToSitesCentre is TestPrometheusAPIScopedToSites for a centre: the same series live in
// a real VictoriaMetrics, and the API forwards every query to it (storage.query). Nothing below the API can
// filter there, so a site-a user's queries and match[] selectors must be rewritten before they leave.
func TestPrometheusAPIScopedToSitesCentre(t *testing.T) {
	vm := startVictoriaMetrics(t)
	now := time.Now().UnixMilli()
	vm.importText(t, fmt.Sprintf(`temperature{device="x",site="a"} 1 %d
temperature{device="y",secret_b_label="1",site="b"} 2 %d
nosite_metric{device="z"} 3 %d
`, now, now, now), 3)
	client, err := remotequery.New(remotequery.Config{URL: vm.url})
	if err != nil {
		t.Fatal(err)
	}
	api, err := promapi.NewRemote(client, promapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertScopedToSites(t, api)
}

// TestRequestSitesFailsClosed: a centre reads nothing for a request without a valid principal.
func TestRequestSitesFailsClosed(t *testing.T) {
	r := httptest.NewRequest("GET", "/api/v1/query", nil)
	if s := promapi.RequestSites(r); s.All || len(s.Names) > 0 {
		t.Errorf("no principal: %+v", s)
	}
	for _, c := range []struct {
		p    auth.Principal
		want promscope.Sites
	}{
		{auth.Principal{Role: "bogus"}, promscope.Sites{}},
		{auth.Principal{Role: auth.RoleHealthStaff}, promscope.Sites{Names: []string{}}},
		{auth.Principal{Role: auth.RoleHealthStaff, Sites: []string{"a", "*"}}, promscope.Sites{Names: []string{"a"}}},
		{auth.Principal{Role: auth.RoleAdmin}, promscope.Sites{All: true}},
		{auth.Principal{Role: auth.RoleViewer, Sites: []string{"*"}}, promscope.Sites{All: true}},
	} {
		got := promapi.RequestSites(r.WithContext(auth.NewContext(context.Background(), c.p)))
		if got.All != c.want.All || strings.Join(got.Names, ",") != strings.Join(c.want.Names, ",") {
			t.Errorf("%+v: got %+v, want %+v", c.p, got, c.want)
		}
	}
}

// victoriaMetrics is a victoria-metrics single node child process on a free port. (internal/testenv gets a
// shared helper with the remote-write work; this minimal one keeps the test independent of it.)
type victoriaMetrics struct{ url string }

func startVictoriaMetrics(t *testing.T) victoriaMetrics {
	t.Helper()
	bin := testenv.LookPath(t, "victoria-metrics")
	addr := testenv.FreePort(t)
	testenv.StartProcess(t, bin, nil, "-httpListenAddr="+addr, "-storageDataPath="+t.TempDir(),
		"-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR")
	vm := victoriaMetrics{url: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(vm.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return vm
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("victoria-metrics at %s not ready: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling for the child's readiness
	}
}

// importText writes Prometheus text format samples and waits until the engine finds series of them.
func (vm victoriaMetrics) importText(t *testing.T, text string, series int) {
	t.Helper()
	resp, err := http.Post(vm.url+"/api/v1/import/prometheus", "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("import: %s", resp.Status)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err = http.Get(vm.url + "/internal/force_flush")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = http.Get(vm.url + "/api/v1/query?query=" + url.QueryEscape(`{__name__=~".+"}`))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Data struct{ Result []any } }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err == nil && len(body.Data.Result) >= series {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("victoria-metrics answers %d of %d series", len(body.Data.Result), series)
		}
		time.Sleep(50 * time.Millisecond) // polling until the engine indexed the import
	}
}
