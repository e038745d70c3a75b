package dashboards

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"citywatch/alerts"
	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// silenceAlerts is fakeAlerts with one silence confined to site-a, so expiring it succeeds.
type silenceAlerts struct{ fakeAlerts }

func (silenceAlerts) Silences() []alerts.Silence {
	return []alerts.Silence{{ID: "s-a", Matchers: []alerts.Matcher{{Name: "site", Op: "=", Value: "site-a"}}}}
}

func (silenceAlerts) ExpireSilence(context.Context, string) error { return nil }

// auditCases are the viewing and acting requests the dashboard audits itself, each with the record it must
// leave (auth and audit test their own actions: logins, users, tokens).
var auditCases = []struct {
	method, path, body string
	action, site, cam  string
}{
	{"GET", "/api/cameras/site-a/snapshot.jpg", "", audit.SnapshotView, "site-a", "site-a"},
	{"GET", "/api/cameras/site-a/clips/c1", "", audit.ClipPlay, "site-a", "site-a"},
	{"GET", "/api/cameras/site-a/clips/c1?download=1", "", audit.ClipDownload, "site-a", "site-a"},
	{"GET", "/api/cameras/site-a/live", "", audit.LiveViewStart, "site-a", "site-a"},
	{"POST", "/api/alerts/1/ack", `{"comment":"on my way"}`, audit.AlertAck, "site-a", ""},
	{"POST", "/api/alerts/1/assign", `{"assignee":"bob"}`, audit.AlertAssign, "site-a", ""},
	{"POST", "/api/silences", `{"matchers":[{"name":"site","op":"=","value":"site-a"}],"ends_at":"2099-01-01T00:00:00Z","comment":"maintenance"}`, audit.SilenceCreate, "site-a", ""},
	{"DELETE", "/api/silences/s-a", "", audit.SilenceExpire, "site-a", ""},
}

// TestAuditEachActionOnce: each audited request leaves exactly one record of its action with who (actor and
// role), where (site, camera), from where (IP) and the outcome; a live view also records its end.
func TestAuditEachActionOnce(t *testing.T) {
	s, a, lg := newAccessServer(t)
	s.deps.Alerts = silenceAlerts{}
	ctx := context.Background()
	token, err := a.IssueToken(ctx, "nurse-ward-a", auth.RoleHealthStaff, []string{"site-a"}, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	op, err := a.IssueToken(ctx, "operator", auth.RoleOperator, nil, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range auditCases {
		tok := token
		if strings.HasPrefix(c.path, "/api/silences") {
			tok = op // health staff may not silence
		}
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2.7:51000"
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 300 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
		recs, err := lg.Query(ctx, audit.Filter{Action: c.action})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Fatalf("%s %s: %d %s records, want exactly 1: %+v", c.method, c.path, len(recs), c.action, recs)
		}
		r := recs[0]
		if r.Site != c.site || r.Camera != c.cam || r.IP != "192.0.2.7" || !r.Success || r.Actor == "" || r.Role == "" {
			t.Errorf("%s %s: record %+v", c.method, c.path, r)
		}
		if tok == token && (r.Actor != "token/nurse-ward-a" || r.Role != string(auth.RoleHealthStaff)) {
			t.Errorf("%s %s: recorded as %s (%s)", c.method, c.path, r.Actor, r.Role)
		}
	}
	if stops, _ := lg.Query(ctx, audit.Filter{Action: audit.LiveViewStop}); len(stops) != 1 || stops[0].Camera != "site-a" {
		t.Errorf("live view stop records: %+v", stops)
	}
	// A denied viewing is not recorded as one: another site's camera is 404 and leaves no snapshot record.
	req := httptest.NewRequest("GET", "/api/cameras/site-b/snapshot.jpg", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if recs, _ := lg.Query(ctx, audit.Filter{Action: audit.SnapshotView}); rec.Code != http.StatusNotFound || len(recs) != 1 {
		t.Errorf("another site's snapshot: %d, %d snapshot records", rec.Code, len(recs))
	}
}
