package dashboards

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/cameras/media"
	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/dashboards/auth/authtest"
	"citywatch/dashboards/live"
	"citywatch/dashboards/openapi"
	"citywatch/ingest"
	"citywatch/ward"
)

// noReadings is a ward.Reader without data.
type noReadings struct{}

func (noReadings) Points(context.Context, string, map[string]string, time.Time, time.Time) ([]ward.Point, error) {
	return nil, nil
}

// wardRoutes are the ward's routes with room 1 and occupancy 1 at site-a, room 2 and occupancy 2 at site-b.
func wardRoutes(t *testing.T, db *sql.DB, lg *audit.Log) []Route {
	t.Helper()
	w, err := ward.New(ward.Config{}, ward.Deps{DB: db, Reader: noReadings{}, Audit: lg})
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"site-a", "site-b"} {
		r, err := w.Store().CreateRoom(context.Background(), ward.Room{Site: site, Name: "101"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Store().CheckIn(context.Background(), site, ward.CheckIn{RoomID: r.ID}, "nurse"); err != nil {
			t.Fatal(err)
		}
	}
	var out []Route
	for _, r := range w.Routes() {
		out = append(out, Route{Rule: r.Rule, Handler: r.Handler})
	}
	return out
}

// Fixtures are named after their site so the matrix can address "another site's item" by id.
type fakeIngest struct{}

func (fakeIngest) Devices() []ingest.Device {
	return []ingest.Device{
		{ID: "site-a", Labels: map[string]string{"site": "site-a"}},
		{ID: "site-b", Labels: map[string]string{"site": "site-b"}},
	}
}

func (fakeIngest) Rejected() []ingest.Rejected { return nil }

func (fakeIngest) DeviceRegistry() ingest.RegistryStatus {
	return ingest.RegistryStatus{Devices: 2, MaxDevices: 2, Policy: ingest.RegistryPolicy, Evicted: 5}
}

type fakeCameras struct{}

func (fakeCameras) Cameras() []cameras.Status {
	return []cameras.Status{{ID: "site-a", Site: "site-a"}, {ID: "site-b", Site: "site-b"}}
}

func (f fakeCameras) Camera(id string) (cameras.Status, error) {
	for _, c := range f.Cameras() {
		if c.ID == id {
			return c, nil
		}
	}
	return cameras.Status{}, cameras.ErrCameraNotFound
}

// fakeAlerts holds alert 1 at site-a and alert 2 at site-b.
type fakeAlerts struct{}

func (fakeAlerts) Alerts(context.Context, alerts.AlertFilter) ([]alerts.Alert, error) {
	return []alerts.Alert{{ID: 1, Fingerprint: "f1", Labels: map[string]string{"site": "site-a"}},
		{ID: 2, Fingerprint: "f2", Labels: map[string]string{"site": "site-b"}}}, nil
}

func (f fakeAlerts) Alert(ctx context.Context, id int64) (alerts.Alert, error) {
	list, _ := f.Alerts(ctx, alerts.AlertFilter{})
	for _, a := range list {
		if a.ID == id {
			return a, nil
		}
	}
	return alerts.Alert{}, alerts.ErrAlertNotFound
}

func (fakeAlerts) Ack(context.Context, int64, string, string) error           { return nil }
func (fakeAlerts) Assign(context.Context, int64, string) error                { return nil }
func (fakeAlerts) Silences() []alerts.Silence                                 { return nil }
func (fakeAlerts) AddSilence(context.Context, alerts.Silence) (string, error) { return "s1", nil }
func (fakeAlerts) ExpireSilence(context.Context, string) error                { return alerts.ErrSilenceNotFound }
func (fakeAlerts) Rules() []alerts.RuleStatus                                 { return nil }

type fakeDeliveries struct{}

func (fakeDeliveries) Deliveries(context.Context, notify.DeliveryFilter) ([]notify.Delivery, error) {
	return []notify.Delivery{{ID: 7, Fingerprint: "f1"}}, nil
}

func (fakeDeliveries) Replay(context.Context, int64) error { return notify.ErrNotFound }

// fakeMedia has one finished clip for every camera.
type fakeMedia struct{}

func (fakeMedia) Snapshot(context.Context, string) ([]byte, time.Time, error) {
	return []byte{0xff, 0xd8, 0xff, 0xd9}, time.Now(), nil
}

func (fakeMedia) Clips(string) []media.Clip { return []media.Clip{{ID: "c1"}} }

// Clip serves this test file as the clip's bytes: the matrix checks access, not video.
func (fakeMedia) Clip(camera, clip string) (media.Clip, string, error) {
	return media.Clip{ID: clip, Camera: camera}, "access_test.go", nil
}

// ClipThumbnail answers a still without decoding (the clip above is no video).
func (fakeMedia) ClipThumbnail(context.Context, string, string) ([]byte, error) {
	return []byte{0xff, 0xd8, 0xff, 0xd9}, nil
}

func (fakeMedia) ServeLive(w http.ResponseWriter, r *http.Request, camera string) {
	writeJSON(w, http.StatusOK, map[string]string{"camera": camera})
}

func (fakeMedia) Masked(string) bool { return false }

// fakePromAPI answers every query route with 200 and records the query it was given.
type fakePromAPI struct{ lastQuery, lastMatch chan string }

func (f fakePromAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/" { // the catch-all's path in the matrix: no such endpoint
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = r.ParseForm()
		select {
		case f.lastQuery <- r.Form.Get("query"):
		default:
		}
		select {
		case f.lastMatch <- strings.Join(r.Form["match[]"], ";"):
		default:
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
	})
}

func newAccessServer(t *testing.T) (*Server, *auth.Auth, *audit.Log) {
	t.Helper()
	a, lg, db := newTestAuth(t, auth.Config{})
	prom := fakePromAPI{lastQuery: make(chan string, 1), lastMatch: make(chan string, 1)}
	s, err := New(Config{}, Deps{Ingest: fakeIngest{}, Cameras: fakeCameras{}, PromAPI: prom, Auth: a, Audit: lg,
		Gatherer: emptyGatherer{}, Alerts: fakeAlerts{}, Deliveries: fakeDeliveries{}, ReloadRules: func() error { return nil },
		Live: live.New(live.Config{}, live.Deps{}), Media: fakeMedia{}, Routes: append(wardRoutes(t, db, lg), planRoutes(t, db, lg)...)})
	if err != nil {
		t.Fatal(err)
	}
	return s, a, lg
}

// TestAccessMatrix: every route × every role × own/other site × anonymous gets exactly the expected status,
// and a route registered without a rule fails the test.
func TestAccessMatrix(t *testing.T) {
	s, a, _ := newAccessServer(t)
	rules := append(append([]auth.RouteRule{}, s.Rules()...), auth.Routes()...)
	rules = append(rules, auth.RouteRule{Method: "GET", Pattern: "/api/audit", Action: auth.ActionReadAudit})
	authtest.CheckMatrix(t, authtest.Matrix{
		Handler: s.Handler(), Router: s.Router(), Auth: a, Rules: rules,
		Path: func(rule auth.RouteRule, site string) string {
			if rule.Pattern == "/" {
				return "/no-such-route"
			}
			if strings.HasPrefix(rule.Pattern, "/api/ward/") { // wardRoutes' fixtures: id 1 at site-a, 2 at site-b
				id := map[string]string{"site-a": "1", "site-b": "2"}[site]
				return strings.Replace(strings.Replace(rule.Pattern, "{site}", site, 1), "{id}", id, 1)
			}
			if strings.HasPrefix(rule.Pattern, "/api/plans/") { // planRoutes' fixtures: device and camera "site-a" at site-a
				return strings.NewReplacer("{site}", site, "{kind}", "device", "{id}", site).Replace(rule.Pattern)
			}
			if strings.HasPrefix(rule.Pattern, "/api/alerts/{id}") {
				id := map[string]string{"site-a": "1", "site-b": "2"}[site]
				return strings.Replace(rule.Pattern, "{id}", id, 1)
			}
			return authtest.DefaultPath(rule, site)
		},
	})
}

// TestOpenAPIMatchesRoutes: every REST route the server registers is in /api/openapi.json and every documented
// operation is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, _, _ := newAccessServer(t)
	undocumented, unregistered := openapi.Diff(s.Router().Patterns())
	if len(undocumented) > 0 {
		t.Errorf("routes missing from the OpenAPI document: %v", undocumented)
	}
	if len(unregistered) > 0 {
		t.Errorf("documented operations with no route: %v", unregistered)
	}
}
