package dashboards

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/dashboards/auth/authtest"
	"citywatch/dashboards/live"
	"citywatch/ingest"
)

// Fixtures are named after their site so the matrix can address "another site's item" by id.
type fakeIngest struct{}

func (fakeIngest) Devices() []ingest.Device {
	return []ingest.Device{
		{ID: "site-a", Labels: map[string]string{"site": "site-a"}},
		{ID: "site-b", Labels: map[string]string{"site": "site-b"}},
	}
}

func (fakeIngest) Rejected() []ingest.Rejected { return nil }

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

func (fakeAlerts) Alerts(alerts.AlertFilter) ([]alerts.Alert, error) {
	return []alerts.Alert{{ID: 1, Fingerprint: "f1", Labels: map[string]string{"site": "site-a"}},
		{ID: 2, Fingerprint: "f2", Labels: map[string]string{"site": "site-b"}}}, nil
}

func (f fakeAlerts) Alert(id int64) (alerts.Alert, error) {
	list, _ := f.Alerts(alerts.AlertFilter{})
	for _, a := range list {
		if a.ID == id {
			return a, nil
		}
	}
	return alerts.Alert{}, alerts.ErrAlertNotFound
}

func (fakeAlerts) Ack(int64, string, string) error           { return nil }
func (fakeAlerts) Assign(int64, string) error                { return nil }
func (fakeAlerts) Silences() []alerts.Silence                { return nil }
func (fakeAlerts) AddSilence(alerts.Silence) (string, error) { return "s1", nil }
func (fakeAlerts) ExpireSilence(string) error                { return alerts.ErrSilenceNotFound }
func (fakeAlerts) Rules() []alerts.RuleStatus                { return nil }

type fakeDeliveries struct{}

func (fakeDeliveries) Deliveries(context.Context, notify.DeliveryFilter) ([]notify.Delivery, error) {
	return []notify.Delivery{{ID: 7, Fingerprint: "f1"}}, nil
}

func (fakeDeliveries) Replay(context.Context, int64) error { return notify.ErrNotFound }

// fakePromAPI answers every query route with 200 and records the query it was given.
type fakePromAPI struct{ lastQuery, lastMatch chan string }

func (f fakePromAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
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

func newAccessServer(t *testing.T) (*Server, *auth.Auth, fakePromAPI) {
	t.Helper()
	db, err := auth.OpenDB(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	lg, err := audit.New(db, audit.Config{}, audit.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{DataDir: t.TempDir()}, auth.Deps{DB: db, Audit: lg, OnInitialAdmin: func(string, string) {}})
	if err != nil {
		t.Fatal(err)
	}
	prom := fakePromAPI{lastQuery: make(chan string, 1), lastMatch: make(chan string, 1)}
	s, err := New(Config{}, Deps{Ingest: fakeIngest{}, Cameras: fakeCameras{}, PromAPI: prom, Auth: a, Audit: lg,
		Gatherer: emptyGatherer{}, Alerts: fakeAlerts{}, Deliveries: fakeDeliveries{}, ReloadRules: func() error { return nil },
		Live: live.New(live.Config{}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return s, a, prom
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
			if strings.HasPrefix(rule.Pattern, "/api/alerts/{id}") {
				id := map[string]string{"site-a": "1", "site-b": "2"}[site]
				return strings.Replace(rule.Pattern, "{id}", id, 1)
			}
			return authtest.DefaultPath(rule, site)
		},
	})
}

