package dashboards

import (
	"bytes"
	"context"
	"database/sql"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/siteplan"
)

// planRoutes are the site plans' routes with an image at site-a and site-b, and the device and camera named
// after their site placeable there.
func planRoutes(t *testing.T, db *sql.DB, lg *audit.Log) []Route {
	t.Helper()
	p, err := siteplan.New(siteplan.Config{}, siteplan.Deps{DB: db, Audit: lg, Locate: func(kind, id string) (string, bool) {
		return id, id == "site-a" || id == "site-b"
	}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"site-a", "site-b"} {
		if _, err := p.Store().PutImage(context.Background(), site, siteplan.ImageInfo{ContentType: "image/png", Width: 4, Height: 3}, b.Bytes(), "fixture"); err != nil {
			t.Fatal(err)
		}
	}
	var out []Route
	for _, r := range p.Routes() {
		out = append(out, Route{Rule: r.Rule, Handler: r.Handler})
	}
	return out
}

// TestPlanUploadBodyLimit: a plan image may exceed the general body limit up to the plan limit, and no further;
// other routes keep the general limit.
func TestPlanUploadBodyLimit(t *testing.T) {
	s := &Server{cfg: Config{Limits: Limits{MaxBodyBytes: 1 << 20, MaxLoginBodyBytes: 16 << 10}, Plans: PlanPage{MaxImageBytes: 5 << 20}}}
	for _, tc := range []struct {
		method, path string
		want         int64
	}{
		{"PUT", "/api/plans/site-a/image", 5 << 20},
		{"PUT", "/api/plans/site-a/markers/device/image", 1 << 20},
		{"POST", "/api/plans/site-a/image", 1 << 20},
		{"PUT", "/api/plans/a/b/image", 1 << 20},
		{"PUT", "/api/ward/site-a/image", 1 << 20},
	} {
		got := s.bodyLimit(httptest.NewRequest(tc.method, tc.path, nil))
		require.Equal(t, tc.want, got, "%s %s", tc.method, tc.path)
	}
}

// TestPageCSPAllowsTiles: the dashboard page lets the configured tile server's images in, and only them.
func TestPageCSPAllowsTiles(t *testing.T) {
	for _, tc := range []struct {
		srcs []string
		want string
	}{
		{nil, "default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'"},
		{[]string{"https://tile.openstreetmap.org"}, "default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; img-src 'self' https://tile.openstreetmap.org"},
	} {
		s, err := New(Config{Plans: PlanPage{ImgSources: tc.srcs}}, Deps{})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, tc.want, rec.Header().Get("Content-Security-Policy"))
		require.True(t, strings.Contains(rec.Body.String(), "<html") || strings.Contains(rec.Body.String(), "<!doctype"))
	}
}
