package dashboards

import (
	"context"
	"fmt"
	"net/http/httptest"
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
	vm := testenv.VictoriaMetrics(t)
	now := time.Now().UnixMilli()
	vm.ImportText(t, fmt.Sprintf(`temperature{device="x",site="a"} 1 %d
temperature{device="y",secret_b_label="1",site="b"} 2 %d
nosite_metric{device="z"} 3 %d
`, now, now, now), 3)
	client, err := remotequery.New(remotequery.Config{URL: vm.URL})
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
