package siteplan

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

type planEnv struct {
	plans *Plans
	mux   *http.ServeMux
	log   *audit.Log
	reg   *prometheus.Registry
}

// newPlanEnv serves the plan routes with the devices dev-a (site-a) and dev-b (site-b) and camera cam-a (site-a).
func newPlanEnv(t testing.TB, cfg Config) *planEnv {
	t.Helper()
	db, err := auth.OpenDB(filepath.Join(t.TempDir(), "meta.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	lg, err := audit.New(db, audit.Config{}, audit.Deps{})
	require.NoError(t, err)
	items := map[string]string{"device d1/site-a/w1": "site-a", "device dev-a": "site-a", "device dev-b": "site-b", "camera cam-a": "site-a"}
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Deps{DB: db, Audit: lg, Registerer: reg, Locate: func(kind, id string) (string, bool) {
		s, ok := items[kind+" "+id]
		return s, ok
	}, Rooms: func(_ context.Context, site string) ([]Room, error) {
		if site == "site-a" {
			return []Room{{Name: "101", X: 0.2, Y: 0.8, Placed: true}}, nil
		}
		return nil, nil
	}})
	require.NoError(t, err)
	mux := http.NewServeMux()
	for _, r := range p.Routes() {
		mux.Handle(r.Rule.Key(), r.Handler)
	}
	return &planEnv{plans: p, mux: mux, log: lg, reg: reg}
}

var (
	admin     = auth.Principal{Kind: auth.KindUser, ID: "root", Name: "root", Role: auth.RoleAdmin}
	nurseA    = auth.Principal{Kind: auth.KindUser, ID: "lan", Name: "lan", Role: auth.RoleHealthStaff, Sites: []string{"site-a"}}
	viewerA   = auth.Principal{Kind: auth.KindUser, ID: "vi", Name: "vi", Role: auth.RoleViewer, Sites: []string{"site-a"}}
	operatorB = auth.Principal{Kind: auth.KindUser, ID: "op", Name: "op", Role: auth.RoleOperator, Sites: []string{"site-b"}}
)

func (e *planEnv) do(p auth.Principal, method, path string, body []byte, ctype string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	r = r.WithContext(auth.NewContext(r.Context(), p))
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return w
}

// uploadCases: what an upload answers under the limits 64 KiB, 2000 a side, 1 MP.
var uploadCases = []struct {
	name  string
	data  []byte
	ctype string // what the client claims; never trusted
	code  int
	why   string // a word of the error message
}{
	{name: "png", data: pngOf(320, 200), ctype: "image/png", code: 200},
	{name: "webp", data: webpLossless(1000, 1000), ctype: "image/webp", code: 200},
	{name: "html claiming png", data: []byte("<!doctype html><script>alert(1)</script>"), ctype: "image/png", code: 415, why: "text/html"},
	{name: "svg", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), ctype: "image/svg+xml", code: 415, why: "PNG, JPEG or WebP"},
	{name: "too large", data: append(pngOf(2, 2), make([]byte, 64<<10)...), ctype: "image/png", code: 413, why: "limit"},
	{name: "bomb header", data: pngClaiming(60000, 60000), ctype: "image/png", code: 422, why: "60000×60000"},
	{name: "too many pixels", data: pngClaiming(1500, 1500), ctype: "image/png", code: 422, why: "pixels"},
	{name: "corrupt png", data: pngOf(4, 4)[:30], ctype: "image/png", code: 422, why: "header"},
	{name: "empty", data: nil, ctype: "image/png", code: 400, why: "empty"},
}

func TestUploadLimits(t *testing.T) {
	e := newPlanEnv(t, Config{MaxImageBytes: 64 << 10, MaxImageSide: 2000, MaxImagePixels: 1_000_000})
	for _, tc := range uploadCases {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(admin, "PUT", "/api/plans/site-a/image", tc.data, tc.ctype)
			require.Equal(t, tc.code, w.Code, w.Body.String())
			require.Equal(t, "application/json", w.Header().Get("Content-Type"))
			require.Contains(t, w.Body.String(), tc.why)
		})
	}
	// Rejections are counted by a bounded reason and audited as failures.
	require.Equal(t, 2.0, testutil.ToFloat64(e.plans.rejected.WithLabelValues("type")))
	require.Equal(t, 3.0, testutil.ToFloat64(e.plans.rejected.WithLabelValues("image")))
	recs, err := e.log.Query(context.Background(), audit.Filter{Action: audit.SitePlanImage})
	require.NoError(t, err)
	var ok, failed int
	for _, r := range recs {
		if r.Success {
			ok++
		} else {
			failed++
		}
	}
	require.Equal(t, 2, ok)
	require.Equal(t, len(uploadCases)-2, failed)
}

// TestPlanRoundTrip: an upload is served back byte for byte with its sniffed type and nosniff; markers are
// placed, moved and removed, each audited.
func TestPlanRoundTrip(t *testing.T) {
	e := newPlanEnv(t, Config{})
	img := pngOf(320, 200)
	require.Equal(t, 200, e.do(nurseA, "PUT", "/api/plans/site-a/image", img, "application/octet-stream").Code)
	w := e.do(viewerA, "GET", "/api/plans/site-a/image", nil, "")
	require.Equal(t, 200, w.Code)
	require.Equal(t, img, w.Body.Bytes())
	require.Equal(t, "image/png", w.Header().Get("Content-Type"))
	require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))

	require.Equal(t, 200, e.do(nurseA, "PUT", "/api/plans/site-a/markers/device/dev-a", []byte(`{"x":0.25,"y":0.5}`), "application/json").Code)
	require.Equal(t, 200, e.do(admin, "PUT", "/api/plans/site-a/markers/device/dev-a", []byte(`{"x":0.3,"y":0.6}`), "application/json").Code)
	require.Equal(t, 200, e.do(admin, "PUT", "/api/plans/site-a/markers/camera/cam-a", []byte(`{"x":1,"y":0}`), "application/json").Code)
	// Device ids are "district/site/device": escaped in the path.
	require.Equal(t, 200, e.do(admin, "PUT", "/api/plans/site-a/markers/device/d1%2Fsite-a%2Fw1", []byte(`{"x":0,"y":1}`), "application/json").Code)
	require.Equal(t, 204, e.do(admin, "DELETE", "/api/plans/site-a/markers/device/d1%2Fsite-a%2Fw1", nil, "").Code)
	w = e.do(viewerA, "GET", "/api/plans/site-a", nil, "")
	require.Equal(t, 200, w.Code)
	var pl Plan
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &pl))
	require.NotNil(t, pl.Image)
	require.Equal(t, 320, pl.Image.Width)
	require.Equal(t, "lan", pl.Image.UpdatedBy)
	require.Equal(t, []Marker{{Kind: "camera", ID: "cam-a", X: 1, Y: 0}, {Kind: "device", ID: "dev-a", X: 0.3, Y: 0.6}}, pl.Markers)
	require.Equal(t, []Room{{Name: "101", X: 0.2, Y: 0.8, Placed: false}}, pl.Rooms) // Placed is not sent
	require.Empty(t, pl.UnplacedRooms)

	require.Equal(t, 204, e.do(admin, "DELETE", "/api/plans/site-a/markers/camera/cam-a", nil, "").Code)
	require.Equal(t, 204, e.do(admin, "DELETE", "/api/plans/site-a/markers/camera/cam-a", nil, "").Code)
	for action, n := range map[string]int{audit.SitePlanImage: 1, audit.SitePlanPlace: 4, audit.SitePlanRemove: 2} {
		recs, err := e.log.Query(context.Background(), audit.Filter{Action: action, Site: "site-a"})
		require.NoError(t, err)
		require.Len(t, recs, n, action)
	}
}

// markerCases are bad placements: each is refused and changes nothing.
var markerCases = []struct {
	name, path, body string
	code             int
}{
	{"outside the plan", "/api/plans/site-a/markers/device/dev-a", `{"x":1.5,"y":0.5}`, 400},
	{"negative", "/api/plans/site-a/markers/device/dev-a", `{"x":0.5,"y":-0.1}`, 400},
	{"missing y", "/api/plans/site-a/markers/device/dev-a", `{"x":0.5}`, 400},
	{"unknown field", "/api/plans/site-a/markers/device/dev-a", `{"x":0.5,"y":0.5,"z":1}`, 400},
	{"not json", "/api/plans/site-a/markers/device/dev-a", `x=1`, 400},
	{"bad kind", "/api/plans/site-a/markers/sensor/dev-a", `{"x":0.5,"y":0.5}`, 400},
	{"bad id", "/api/plans/site-a/markers/device/%2e%2e", `{"x":0.5,"y":0.5}`, 400},
	{"unknown device", "/api/plans/site-a/markers/device/nope", `{"x":0.5,"y":0.5}`, 404},
	{"another site's device", "/api/plans/site-a/markers/device/dev-b", `{"x":0.5,"y":0.5}`, 404},
}

func TestMarkerValidation(t *testing.T) {
	e := newPlanEnv(t, Config{})
	for _, tc := range markerCases {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(admin, "PUT", tc.path, []byte(tc.body), "application/json")
			require.Equal(t, tc.code, w.Code, w.Body.String())
		})
	}
	pl, err := e.plans.Store().Plan(context.Background(), "site-a")
	require.NoError(t, err)
	require.Empty(t, pl.Markers)
}

// TestPlanScope: a principal of site A can neither read nor change site B's plan, and the map lists only the
// sites it sees.
func TestPlanScope(t *testing.T) {
	e := newPlanEnv(t, Config{TileURL: DefaultTileURL, Sites: []Location{{Site: "site-a", Lat: 10.77, Lon: 106.7}, {Site: "site-b", Lat: 21, Lon: 105.8}}})
	require.Equal(t, 200, e.do(admin, "PUT", "/api/plans/site-b/image", pngOf(8, 8), "image/png").Code)
	require.Equal(t, 200, e.do(admin, "PUT", "/api/plans/site-b/markers/device/dev-b", []byte(`{"x":0.5,"y":0.5}`), "application/json").Code)
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/api/plans/site-b", ""},
		{"GET", "/api/plans/site-b/image", ""},
		{"PUT", "/api/plans/site-b/image", string(pngOf(4, 4))},
		{"PUT", "/api/plans/site-b/markers/device/dev-b", `{"x":0.1,"y":0.1}`},
		{"DELETE", "/api/plans/site-b/markers/device/dev-b", ""},
	} {
		w := e.do(nurseA, req.method, req.path, []byte(req.body), "")
		require.Equal(t, 404, w.Code, "%s %s", req.method, req.path)
	}
	img, data, err := e.plans.Store().Image(context.Background(), "site-b")
	require.NoError(t, err)
	require.Equal(t, 8, img.Width)
	require.Equal(t, pngOf(8, 8), data)
	pl, err := e.plans.Store().Plan(context.Background(), "site-b")
	require.NoError(t, err)
	require.Equal(t, []Marker{{Kind: "device", ID: "dev-b", X: 0.5, Y: 0.5}}, pl.Markers)

	w := e.do(nurseA, "GET", "/api/map", nil, "")
	require.Equal(t, 200, w.Code)
	var m struct {
		TileURL     string     `json:"tile_url"`
		Attribution string     `json:"attribution"`
		Sites       []Location `json:"sites"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &m))
	require.Equal(t, []Location{{Site: "site-a", Lat: 10.77, Lon: 106.7}}, m.Sites)
	require.True(t, strings.Contains(m.Attribution, "OpenStreetMap"))
	w = e.do(operatorB, "GET", "/api/map", nil, "")
	require.Contains(t, w.Body.String(), `"site-b"`)
	require.NotContains(t, w.Body.String(), `"site-a"`)
}

// FuzzMarkerRequest: no placement request panics or stores a position off the plan; every answer is 200, 400
// or 404.
func FuzzMarkerRequest(f *testing.F) {
	for _, tc := range markerCases {
		f.Add(tc.path[strings.LastIndex(tc.path, "/")+1:], tc.body)
	}
	f.Add("dev-a", `{"x":0.5,"y":0.5}`)
	f.Add("dev-a", `{"x":1e400,"y":0}`)
	e := newPlanEnv(f, Config{})
	f.Fuzz(func(t *testing.T, id, body string) {
		r := httptest.NewRequest("PUT", "/api/plans/site-a/markers/device/x", strings.NewReader(body))
		r.SetPathValue("site", "site-a")
		r.SetPathValue("kind", "device")
		r.SetPathValue("id", id)
		r = r.WithContext(auth.NewContext(r.Context(), admin))
		w := httptest.NewRecorder()
		e.plans.site(e.plans.place).ServeHTTP(w, r)
		if w.Code != 200 && w.Code != 400 && w.Code != 404 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		pl, err := e.plans.Store().Plan(context.Background(), "site-a")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pl.Markers {
			if m.X < 0 || m.X > 1 || m.Y < 0 || m.Y > 1 {
				t.Fatalf("stored %+v", m)
			}
		}
	})
}
