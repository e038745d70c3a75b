package ward

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards"
	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/dashboards/auth/authtest"
)

// apiEnv is a ward behind the real HTTP server and access control, with one occupied room at site-a and one at
// site-b (fixture ids per site, for the matrix).
type apiEnv struct {
	*env
	srv  *dashboards.Server
	auth *auth.Auth
	room map[string]Room
	occ  map[string]Occupancy
}

func newAPIEnv(t *testing.T, now time.Time) *apiEnv {
	t.Helper()
	e := newEnv(t, now, Config{})
	a, err := auth.New(auth.Config{DataDir: t.TempDir()}, auth.Deps{DB: e.ward.deps.DB, Audit: e.audit,
		OnInitialAdmin: func(string, string) {}})
	require.NoError(t, err)
	routes := make([]dashboards.Route, 0)
	for _, r := range e.ward.Routes() {
		routes = append(routes, dashboards.Route{Rule: r.Rule, Handler: r.Handler})
	}
	srv, err := dashboards.New(dashboards.Config{}, dashboards.Deps{Auth: a, Audit: e.audit, Routes: routes})
	require.NoError(t, err)
	ae := &apiEnv{env: e, srv: srv, auth: a, room: map[string]Room{}, occ: map[string]Occupancy{}}
	for _, site := range []string{"site-a", "site-b"} {
		r := e.room(t, site, "101", "wearable-"+site)
		o, err := e.ward.Store().CheckIn(context.Background(), site, CheckIn{RoomID: r.ID, CaseID: "Q-" + strings.ToUpper(site),
			Name: "Secret Name " + site, Contact: "secret-contact-" + site}, "nurse")
		require.NoError(t, err)
		ae.room[site], ae.occ[site] = r, o
	}
	return ae
}

// path fills a ward route's wildcards for an item of site.
func (ae *apiEnv) path(rule auth.RouteRule, site string) string {
	p := strings.Replace(rule.Pattern, "{site}", site, 1)
	switch {
	case strings.Contains(p, "/rooms/{id}"):
		p = strings.Replace(p, "{id}", strconv.FormatInt(ae.room[site].ID, 10), 1)
	case strings.Contains(p, "{id}"):
		p = strings.Replace(p, "{id}", strconv.FormatInt(ae.occ[site].ID, 10), 1)
	}
	return p
}

// TestWardAccessMatrix: every ward route × every role × own/other site × anonymous gets exactly the expected
// status (health staff of site-a get 404 for everything of site-b).
func TestWardAccessMatrix(t *testing.T) {
	ae := newAPIEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	rules := append(append([]auth.RouteRule{}, ae.srv.Rules()...), auth.Routes()...)
	rules = append(rules, auth.RouteRule{Method: "GET", Pattern: "/api/audit", Action: auth.ActionReadAudit})
	authtest.CheckMatrix(t, authtest.Matrix{Handler: ae.srv.Handler(), Router: ae.srv.Router(), Auth: ae.auth, Rules: rules,
		Path: func(rule auth.RouteRule, site string) string {
			if strings.HasPrefix(rule.Pattern, "/api/ward/") {
				return ae.path(rule, site)
			}
			if rule.Pattern == "/" {
				return "/no-such-route"
			}
			return authtest.DefaultPath(rule, site)
		}})
}

// do sends a request as a principal with the given role and sites and returns status and body.
func (ae *apiEnv) do(t *testing.T, role auth.Role, sites []string, method, path, body string) (int, string) {
	t.Helper()
	tok, err := ae.auth.IssueToken(context.Background(), "t-"+string(role)+strings.Join(sites, "-")+strconv.Itoa(int(time.Now().UnixNano()%1e9)),
		role, sites, false, time.Hour)
	require.NoError(t, err)
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	ae.srv.Handler().ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestPersonalFieldsByRole: names and contacts reach health staff of the site and admins only; viewers and
// operators see case ids; nobody sees another site's occupants, even by id through their own site's path.
func TestPersonalFieldsByRole(t *testing.T) {
	ae := newAPIEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	own := []string{"site-a"}
	occA, occB := ae.occ["site-a"].ID, ae.occ["site-b"].ID
	rec := "/api/ward/site-a/occupancies/" + strconv.FormatInt(occA, 10)
	for _, tc := range []struct {
		role     auth.Role
		sites    []string
		personal bool
	}{
		{auth.RoleHealthStaff, own, true},
		{auth.RoleAdmin, nil, true},
		{auth.RoleViewer, own, false},
		{auth.RoleOperator, nil, false},
	} {
		for _, path := range []string{"/api/ward/site-a", rec, "/api/ward/site-a/report?format=csv", "/api/ward/site-a/fhir",
			"/api/ward/site-a/report?format=html", "/api/ward/site-a/rounds"} {
			code, body := ae.do(t, tc.role, tc.sites, "GET", path, "")
			require.Equal(t, http.StatusOK, code, "%s %s: %s", tc.role, path, body)
			assert.Contains(t, body, "Q-SITE-A", "%s %s", tc.role, path)
			assert.NotContains(t, body, "Q-SITE-B", "%s %s", tc.role, path)
			assert.NotContains(t, body, "secret-contact-site-b", "%s %s", tc.role, path)
			wantName := tc.personal && (path == rec || path == "/api/ward/site-a")
			assert.Equal(t, wantName, strings.Contains(body, "Secret Name site-a"), "%s %s: name shown", tc.role, path)
			assert.Equal(t, wantName, strings.Contains(body, "secret-contact-site-a"), "%s %s: contact shown", tc.role, path)
		}
	}
	// Another site's occupancy by id, through the own site's path: 404 like a missing id.
	for _, path := range []string{"/api/ward/site-a/occupancies/" + strconv.FormatInt(occB, 10), "/api/ward/site-b/occupancies/" + strconv.FormatInt(occB, 10), "/api/ward/site-b"} {
		code, body := ae.do(t, auth.RoleHealthStaff, own, "GET", path, "")
		assert.Equal(t, http.StatusNotFound, code, path)
		assert.NotContains(t, body, "SITE-B")
	}
	code, _ := ae.do(t, auth.RoleHealthStaff, own, "POST", "/api/ward/site-a/occupancies/"+strconv.FormatInt(occB, 10)+"/readings", `{"value":36.6}`)
	assert.Equal(t, http.StatusNotFound, code, "no manual reading for another site's occupant")
	code, body := ae.do(t, auth.RoleHealthStaff, own, "GET", "/api/ward", "")
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, "site-b", "the site list is filtered")
}

// TestOccupantViewsAudited: every view of an occupant's record is in the audit trail with the case id, never the
// name; so are check-in, status change and manual reading.
func TestOccupantViewsAudited(t *testing.T) {
	ae := newAPIEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	own := []string{"site-a"}
	occ := strconv.FormatInt(ae.occ["site-a"].ID, 10)
	for _, role := range []auth.Role{auth.RoleViewer, auth.RoleHealthStaff} {
		code, _ := ae.do(t, role, own, "GET", "/api/ward/site-a/occupancies/"+occ, "")
		require.Equal(t, http.StatusOK, code)
	}
	code, body := ae.do(t, auth.RoleHealthStaff, own, "POST", "/api/ward/site-a/occupancies/"+occ+"/readings", `{"value":37.2}`)
	require.Equal(t, http.StatusCreated, code, body)
	code, body = ae.do(t, auth.RoleHealthStaff, own, "POST", "/api/ward/site-a/occupancies/"+occ+"/status", `{"status":"released"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = ae.do(t, auth.RoleHealthStaff, own, "POST", "/api/ward/site-a/checkin",
		`{"room_id":`+strconv.FormatInt(ae.room["site-a"].ID, 10)+`,"name":"New Person","contact":"x"}`)
	require.Equal(t, http.StatusCreated, code, body)

	recs, err := ae.audit.Query(context.Background(), audit.Filter{Site: "site-a", Limit: 100})
	require.NoError(t, err)
	count := map[string]int{}
	for _, r := range recs {
		count[r.Action]++
		assert.NotContains(t, r.Detail+r.Target, "Secret Name", "no name in the audit trail")
		assert.NotContains(t, r.Detail+r.Target, "New Person", "no name in the audit trail")
		if r.Action == AuditOccupantView {
			assert.Equal(t, "Q-SITE-A", r.Target)
		}
	}
	assert.Equal(t, 2, count[AuditOccupantView])
	assert.Equal(t, 1, count[AuditManualRead])
	assert.Equal(t, 1, count[AuditStatusChange])
	assert.Equal(t, 1, count[AuditCheckIn])

	// Admins can filter the audit trail by the ward's actions.
	code, body = ae.do(t, auth.RoleAdmin, nil, "GET", "/api/audit?action="+AuditOccupantView, "")
	require.Equal(t, http.StatusOK, code, body)
	var got struct{ Records []audit.Record }
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Len(t, got.Records, 2)
}

// TestBadRequests: malformed or hostile bodies get 400 with a JSON error, never a 500 or a change.
func TestBadRequests(t *testing.T) {
	ae := newAPIEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	own := []string{"site-a"}
	occ := strconv.FormatInt(ae.occ["site-a"].ID, 10)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/ward/site-a/rooms", `{"name":"../etc"}`},
		{"POST", "/api/ward/site-a/rooms", `{"name":"201","unknown":1}`},
		{"POST", "/api/ward/site-a/rooms", `{"name":"201","plan_x":7}`},
		{"POST", "/api/ward/site-a/rooms", strings.Repeat("[", 100000)},
		{"POST", "/api/ward/site-a/checkin", `{"room_id":"one"}`},
		{"POST", "/api/ward/site-a/checkin", `{"room_id":1,"case_id":"<script>"}`},
		{"POST", "/api/ward/site-a/occupancies/" + occ + "/readings", `{"value":1e309}`},
		{"POST", "/api/ward/site-a/occupancies/" + occ + "/readings", `{"value":99}`},
		{"POST", "/api/ward/site-a/occupancies/" + occ + "/status", `{"status":"active"}`},
		{"PUT", "/api/ward/site-a/rooms/" + strconv.FormatInt(ae.room["site-a"].ID, 10) + "/bindings", `{"camera":"cam1"}`},
		{"GET", "/api/ward/site-a/report?date=yesterday", ""},
		{"GET", "/api/ward/site-a/report?format=docx", ""},
	} {
		code, body := ae.do(t, auth.RoleHealthStaff, own, tc.method, tc.path, tc.body)
		assert.Equal(t, http.StatusBadRequest, code, "%s %s %.40s: %s", tc.method, tc.path, tc.body, body)
		var e struct{ Error string }
		assert.NoError(t, json.Unmarshal([]byte(body), &e))
		assert.NotEmpty(t, e.Error)
	}
}
