package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

var readyCases = []struct {
	name   string
	checks []Check
	code   int
	detail map[string]string
}{
	{"all ok", []Check{{Name: "a", Err: func() error { return nil }}}, 200, map[string]string{"a": "ok"}},
	{"critical failing", []Check{{Name: "a", Err: func() error { return errors.New("down") }}}, 503, map[string]string{"a": "down"}},
	{"degraded only", []Check{
		{Name: "tsdb", Err: func() error { return nil }},
		{Name: "influx", Degraded: true, Err: func() error { return errors.New("unauthorized: 401") }},
	}, 200, map[string]string{"tsdb": "ok", "influx": "unauthorized: 401"}},
	{"degraded and critical", []Check{
		{Name: "influx", Degraded: true, Err: func() error { return errors.New("unreachable") }},
		{Name: "source_central", Err: func() error { return errors.New("not connected") }},
	}, 503, map[string]string{"influx": "unreachable", "source_central": "not connected"}},
}

// TestReadyz: failing checks make /readyz 503 with the reason; degraded checks only show in the detail.
func TestReadyz(t *testing.T) {
	for _, c := range readyCases {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(Config{}, Deps{Checks: c.checks})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != c.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.code, rec.Body)
			}
			var body struct{ Checks map[string]string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			for k, v := range c.detail {
				if body.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, body.Checks[k], v)
				}
			}
		})
	}
}

// TestUnknownRouteJSON404 and bounded metric labels: an unknown path is a JSON 404 and is counted under
// "unmatched", never under its raw path.
func TestUnknownRouteJSON404(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{}, Deps{Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/nope", "/api/x/%2e%2e/etc", "/random-" + strings.Repeat("a", 100)} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var body errorBody
		if rec.Code != http.StatusNotFound || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error == "" {
			t.Errorf("%s: %d %q", path, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: content type %q", path, ct)
		}
	}
	if got := testutil.ToFloat64(s.reqs.WithLabelValues("unmatched", "4xx")); got != 3 {
		t.Errorf("unmatched 4xx = %v, want 3", got)
	}
	if n := testutil.CollectAndCount(s.reqs); n != 1 {
		t.Errorf("%d label sets, want 1 (no raw paths as labels)", n)
	}
}

// TestRootServesUI: the pages and every embedded asset are served, each with a restrictive CSP.
func TestRootServesUI(t *testing.T) {
	s, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/", "/login"}
	err = fs.WalkDir(webFS, "web", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Base(p) != "index.html" && servedAsset(p) { // index.html is served at /
			paths = append(paths, "/ui/"+strings.TrimPrefix(p, "web/"))
		}
		return err
	})
	if err != nil || len(paths) < 4 {
		t.Fatalf("walk the embedded UI: %v (%d files)", err, len(paths))
	}
	for _, path := range paths {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d, CSP %q", path, rec.Code, rec.Header().Get("Content-Security-Policy"))
		}
	}
}

func TestNewRejectsHalfTLS(t *testing.T) {
	if _, err := New(Config{TLSCertFile: "cert.pem"}, Deps{}); err == nil {
		t.Fatal("a certificate without a key was accepted")
	}
}

type emptyGatherer struct{}

func (emptyGatherer) Gather() ([]*dto.MetricFamily, error) { return nil, nil }

// recorder is a minimal ResponseWriter for tests that need the body as a buffer.
type recorder struct {
	*httptest.ResponseRecorder
	body *bytes.Buffer
}

func newRecorder() recorder {
	r := httptest.NewRecorder()
	return recorder{ResponseRecorder: r, body: r.Body}
}
