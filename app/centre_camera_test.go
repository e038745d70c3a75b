package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"citywatch/cameras"
	"citywatch/store/remotequery"
)

// centreCameraCases look cameras up on a centre where two edges, at two sites, both have a camera "cam1"
// (camera_up 1 at edge-1, 0 at edge-2) and only edge-1 has "cam2".
var centreCameraCases = []struct {
	id        string
	wantFound bool
	wantEdge  string
	wantSite  string
	wantState cameras.State
}{
	{"edge-1/site-a/cam1", true, "edge-1", "site-a", cameras.StateOnline},
	{"edge-2/site-b/cam1", true, "edge-2", "site-b", cameras.StateOffline},
	{"cam1", false, "", "", ""}, // ambiguous: neither
	{"cam2", true, "edge-1", "site-a", cameras.StateOnline},
	{"edge-1/site-a/cam2", true, "edge-1", "site-a", cameras.StateOnline},
	{"edge-2/site-b/cam2", false, "", "", ""},
	{"edge-1/site-b/cam1", false, "", "", ""},
}

// TestCentreCameraSameIDTwoEdges: with a camera id two edges share, the key edge/site/camera finds each edge's
// own camera, and the bare id finds neither rather than the first.
func TestCentreCameraSameIDTwoEdges(t *testing.T) {
	now := time.Now().Unix()
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		q := r.Form.Get("query")
		val := func(up int) string {
			if strings.HasPrefix(q, "timestamp(") {
				return fmt.Sprint(now)
			}
			if strings.Contains(q, "camera_up") {
				return fmt.Sprint(up)
			}
			return "0"
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[
{"metric":{"edge":"edge-1","site":"site-a","camera":"cam1"},"value":[%d,%q]},
{"metric":{"edge":"edge-2","site":"site-b","camera":"cam1"},"value":[%d,%q]},
{"metric":{"edge":"edge-1","site":"site-a","camera":"cam2"},"value":[%d,%q]}]}}`,
			now, val(1), now, val(0), now, val(1))
	}))
	t.Cleanup(engine.Close)
	q, err := remotequery.New(remotequery.Config{URL: engine.URL})
	if err != nil {
		t.Fatal(err)
	}
	c := &centreListings{q: q, timeout: 10 * time.Second, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		edges: map[string]string{"edge-1": "https://edge-1.example.org", "edge-2": "https://edge-2.example.org"}}

	list := c.Cameras()
	if len(list) != 3 {
		t.Fatalf("listed %d cameras, want 3: %+v", len(list), list)
	}
	for _, st := range list {
		key := centreCameraKey(st)
		if want := st.Labels["edge"] + "/" + st.Site + "/" + st.ID; key != want {
			t.Errorf("key %q, want %q", key, want)
		}
		got, err := c.Camera(key)
		if err != nil || got.ID != st.ID || got.Labels["edge"] != st.Labels["edge"] || got.Site != st.Site {
			t.Errorf("Camera(%q) = %+v, %v; want the listed %+v", key, got, err, st)
		}
	}
	for _, tc := range centreCameraCases {
		got, err := c.Camera(tc.id)
		if !tc.wantFound {
			if !errors.Is(err, cameras.ErrCameraNotFound) {
				t.Errorf("Camera(%q) = %+v, %v; want ErrCameraNotFound", tc.id, got, err)
			}
			continue
		}
		if err != nil || got.Labels["edge"] != tc.wantEdge || got.Site != tc.wantSite || got.State != tc.wantState {
			t.Errorf("Camera(%q) = edge %q site %q state %q, %v; want %q %q %q", tc.id, got.Labels["edge"], got.Site,
				got.State, err, tc.wantEdge, tc.wantSite, tc.wantState)
		}
	}
}
