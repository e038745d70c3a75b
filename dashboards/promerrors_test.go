package dashboards

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

	"citywatch/dashboards/auth"
	"citywatch/dashboards/promapi"
	"citywatch/store/tsdb"
)

// promErrorCases are /api/v1 requests that fail in the layers in front of the API or in its router, with the
// status and Prometheus errorType each must answer. who is "" (no credentials), "bad" (an unknown token),
// "viewer-a" (site a only), "viewer-all" or "admin".
var promErrorCases = []struct {
	name, who, method, path string
	code                    int
	errType                 string
}{
	{"no credentials", "", "GET", "/api/v1/query?query=up", 401, "unauthorized"},
	{"bad token", "bad", "GET", "/api/v1/labels", 401, "unauthorized"},
	{"unknown path unauthenticated", "", "GET", "/api/v1/nope", 401, "unauthorized"},
	{"unknown path", "viewer-a", "GET", "/api/v1/nope", 404, "not_found"},
	{"unknown admin path", "admin", "POST", "/api/v1/admin/tsdb/snapshot", 404, "not_found"},
	{"POST label values", "viewer-a", "POST", "/api/v1/label/site/values", 405, "method_not_allowed"},
	{"DELETE query", "admin", "DELETE", "/api/v1/query", 405, "method_not_allowed"},
	{"POST rules", "admin", "POST", "/api/v1/rules", 405, "method_not_allowed"},
	{"tsdb status site-limited", "viewer-a", "GET", "/api/v1/status/tsdb", 403, "forbidden"},
	{"tsdb status viewer", "viewer-all", "GET", "/api/v1/status/tsdb", 403, "forbidden"}, // no read_metrics
	{"config viewer", "viewer-all", "GET", "/api/v1/status/config", 403, "forbidden"},
	{"bad query", "viewer-a", "GET", "/api/v1/query?query=sum(", 400, "bad_data"},
	{"rules allowed", "viewer-a", "GET", "/api/v1/rules", 200, ""},
	{"tsdb status admin", "admin", "GET", "/api/v1/status/tsdb", 200, ""},
	{"config admin", "admin", "GET", "/api/v1/status/config", 200, ""},
	{"format_query POST", "viewer-a", "POST", "/api/v1/format_query?query=x", 200, ""},
}

// TestPrometheusErrorShape: every /api/v1 error, whichever layer gives it (authentication, authorization, the
// all-sites check, unknown paths, wrong methods, the API), is Prometheus' envelope with the right status.
func TestPrometheusErrorShape(t *testing.T) {
	db, err := tsdb.Open(tsdb.Config{Dir: t.TempDir()}, tsdb.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	api, err := promapi.New(ScopeToSites(db), promapi.Options{Status: promapi.Status{TSDB: db}})
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := newTestAuth(t, auth.Config{})
	s, err := New(Config{}, Deps{PromAPI: api, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tokens := map[string]string{"bad": "cw_nosuchtoken"}
	for name, sub := range map[string]struct {
		role  auth.Role
		sites []string
	}{"viewer-a": {auth.RoleViewer, []string{"a"}}, "viewer-all": {auth.RoleViewer, []string{auth.AllSitesWildcard}}, "admin": {auth.RoleAdmin, nil}} {
		tok, err := a.IssueToken(ctx, name, sub.role, sub.sites, false, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok
	}
	for _, c := range promErrorCases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(""))
			if tok := tokens[c.who]; tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			if c.method == "POST" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.code, body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var env struct {
				Status, ErrorType, Error string
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("not JSON: %s", body)
			}
			if c.code == 200 {
				if env.Status != "success" {
					t.Errorf("body %s", body)
				}
				return
			}
			if env.Status != "error" || env.ErrorType != c.errType || env.Error == "" {
				t.Errorf("want Prometheus' error envelope with errorType %q, got %s", c.errType, body)
			}
		})
	}
}

// promShapeCases are answers of the layers in front of the Prometheus API and what promErrorShape makes of
// them: the status is kept, errors get Prometheus' envelope, everything else passes unchanged.
var promShapeCases = []struct {
	name, path string
	inner      http.HandlerFunc
	code       int
	body       string
}{
	{"REST error with object detail", "/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusRequestEntityTooLarge, "request body too large", map[string]int64{"limit_bytes": 10})
	}, 413, `{"status":"error","errorType":"bad_data","error":"request body too large"}`},
	{"REST error with string detail", "/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusForbidden, "forbidden", "site b")
	}, 403, `{"status":"error","errorType":"forbidden","error":"forbidden: site b"}`},
	{"plain text error", "/api/v1/labels", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}, 429, `{"status":"error","errorType":"unavailable","error":"too many requests"}`},
	{"Prometheus error passes", "/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		promapi.WriteError(w, http.StatusUnprocessableEntity, "execution", "boom")
	}, 422, `{"status":"error","errorType":"execution","error":"boom"}`},
	{"success passes", "/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
	}, 200, `{"status":"success"}`},
	{"implicit 200 passes", "/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"success"}`))
	}, 200, `{"status":"success"}`},
	{"REST API untouched", "/api/alerts/9", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "alert not found", "9")
	}, 404, `{"error":"alert not found","detail":"9"}`},
}

func TestPromErrorShapeRewrites(t *testing.T) {
	for _, c := range promShapeCases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			promErrorShape(c.inner).ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d", rec.Code, c.code)
			}
			var got, want any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("not JSON: %s", rec.Body)
			}
			_ = json.Unmarshal([]byte(c.body), &want)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if string(gj) != string(wj) {
				t.Errorf("body %s, want %s", rec.Body, c.body)
			}
			if cl := rec.Header().Get("Content-Length"); cl != "" && cl != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("Content-Length %s for %d bytes", cl, rec.Body.Len())
			}
		})
	}
}
