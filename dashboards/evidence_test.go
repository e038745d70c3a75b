package dashboards

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/alerts"
	"citywatch/cameras/media"
	"citywatch/dashboards/auth"
)

var evT0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// evidenceAlerts has camera alerts at site-a (one flapping, one resolved, one of another camera) and site-b.
type evidenceAlerts struct{ fakeAlerts }

func (evidenceAlerts) Alerts(_ context.Context, f alerts.AlertFilter) ([]alerts.Alert, error) {
	all := []alerts.Alert{
		{ID: 1, Rule: "CameraOffline", State: alerts.StateFiring, Flapping: true, ActiveAt: evT0.Add(3 * time.Minute),
			Labels: map[string]string{"alertname": "CameraOffline", "site": "site-a", "camera": "site-a"}},
		{ID: 2, Rule: "CameraOffline", State: alerts.StateResolved, ActiveAt: evT0, ResolvedAt: evT0.Add(time.Minute),
			Labels: map[string]string{"alertname": "CameraOffline", "site": "site-a", "camera": "site-a"}},
		{ID: 3, Rule: "CameraTamper", State: alerts.StateFiring, ActiveAt: evT0,
			Labels: map[string]string{"alertname": "CameraTamper", "site": "site-a", "camera": "door"}},
		{ID: 4, Rule: "CameraOffline", State: alerts.StateFiring, ActiveAt: evT0,
			Labels: map[string]string{"alertname": "CameraOffline", "site": "site-b", "camera": "site-b"}},
		{ID: 5, Rule: "Fever", State: alerts.StatePending, ActiveAt: evT0,
			Labels: map[string]string{"alertname": "Fever", "site": "site-a", "device": "w1"}},
	}
	var out []alerts.Alert
	for _, a := range all {
		if (f.State == "" || a.State == f.State) && (f.Site == "" || a.Labels["site"] == f.Site) {
			out = append(out, a)
		}
	}
	return out, nil
}

// evidenceMedia has a motion clip for every camera.
type evidenceMedia struct{ fakeMedia }

func (evidenceMedia) Clips(camera string) []media.Clip {
	return []media.Clip{{ID: "clip-" + camera, Camera: camera, Reason: "motion", EventTime: evT0.Add(2 * time.Minute)}}
}

// newEvidenceServer serves evidenceAlerts and evidenceMedia and returns tokens by subject name.
func newEvidenceServer(t *testing.T) (http.Handler, map[string]string) {
	t.Helper()
	a, lg, _ := newTestAuth(t, auth.Config{})
	s, err := New(Config{}, Deps{Cameras: fakeCameras{}, Auth: a, Audit: lg, Alerts: evidenceAlerts{}, Media: evidenceMedia{}})
	require.NoError(t, err)
	tokens := map[string]string{}
	for _, sub := range []struct {
		name  string
		role  auth.Role
		sites []string
		video bool
	}{
		{"admin", auth.RoleAdmin, nil, false},
		{"operator_a", auth.RoleOperator, []string{"site-a"}, false},
		{"viewer_a", auth.RoleViewer, []string{"site-a"}, false},
	} {
		tok, err := a.IssueToken(context.Background(), sub.name, sub.role, sub.sites, sub.video, time.Hour)
		require.NoError(t, err)
		tokens[sub.name] = tok
	}
	return s.Handler(), tokens
}

func call(t *testing.T, h http.Handler, token, method, path, body string) (int, []byte) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

var silencePreviewCases = []struct {
	name, who, body string
	code            int
	ids             []int64
	permitted       bool
	errPart         string
}{
	{"one camera", "admin", `{"matchers":[{"name":"alertname","op":"=","value":"CameraOffline"},{"name":"camera","op":"=","value":"site-a"}]}`,
		200, []int64{1}, true, ""},
	{"every site for an admin, pending too", "admin", `{"matchers":[{"name":"site","op":"=~","value":"site-.*"}]}`,
		200, []int64{1, 3, 4, 5}, true, ""},
	{"a site-limited user sees only their site's alerts", "operator_a", `{"matchers":[{"name":"alertname","op":"=","value":"CameraOffline"}]}`,
		200, []int64{1}, false, ""},
	{"confined to their site: permitted", "operator_a", `{"matchers":[{"name":"site","op":"=","value":"site-a"}]}`,
		200, []int64{1, 3, 5}, true, ""},
	{"resolved alerts are not listed", "admin", `{"matchers":[{"name":"alertname","op":"=","value":"Nothing"}]}`,
		200, []int64{}, true, ""},
	{"same validation as a silence", "admin", `{"matchers":[{"name":"site","op":"=~","value":".*"}]}`,
		400, nil, false, "must not match the empty string"},
	{"bad op", "admin", `{"matchers":[{"name":"site","op":"~","value":"a"}]}`, 400, nil, false, "op must be"},
	{"no matchers", "admin", `{}`, 400, nil, false, "at least one matcher"},
	{"viewers cannot silence", "viewer_a", `{"matchers":[{"name":"site","op":"=","value":"site-a"}]}`, 403, nil, false, ""},
}

func TestSilencePreview(t *testing.T) {
	h, tokens := newEvidenceServer(t)
	for _, tc := range silencePreviewCases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, h, tokens[tc.who], "POST", "/api/silences/preview", tc.body)
			require.Equal(t, tc.code, code, "%s", body)
			if tc.errPart != "" {
				assert.Contains(t, string(body), tc.errPart)
			}
			if code != 200 {
				return
			}
			var got silencePreviewJSON
			require.NoError(t, json.Unmarshal(body, &got))
			ids := []int64{}
			for _, a := range got.Alerts {
				ids = append(ids, a.ID)
			}
			assert.ElementsMatch(t, tc.ids, ids)
			assert.Equal(t, len(tc.ids), got.Count)
			assert.Equal(t, tc.permitted, got.Permitted)
		})
	}
}

func TestCameraTimeline(t *testing.T) {
	h, tokens := newEvidenceServer(t)
	var got struct {
		Camera string          `json:"camera"`
		Events []TimelineEvent `json:"events"`
	}
	code, body := call(t, h, tokens["operator_a"], "GET", "/api/cameras/site-a/timeline", "")
	require.Equal(t, 200, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &got))
	var kinds []string
	for _, e := range got.Events {
		kinds = append(kinds, e.Kind+":"+e.Reason)
	}
	// Newest first; the flapping alert once; the door camera's alert and site-b's are not this camera's.
	assert.Equal(t, []string{"alert:CameraOffline", "clip:motion", "resolved:CameraOffline", "alert:CameraOffline"}, kinds)
	assert.True(t, got.Events[0].Flapping)
	assert.Equal(t, "clip-site-a", got.Events[1].Clip)
	// An alert entry carries the clip recorded around its start (its thumbnail on the timeline): the clip 1 min
	// before the flapping alert, 2 min after the resolved one's start; not the end of an alert.
	assert.Equal(t, "clip-site-a", got.Events[0].Clip)
	assert.Equal(t, "clip-site-a", got.Events[3].Clip)
	assert.Empty(t, got.Events[2].Clip)

	// Another site's camera is not found, as a missing one.
	code, _ = call(t, h, tokens["operator_a"], "GET", "/api/cameras/site-b/timeline", "")
	assert.Equal(t, http.StatusNotFound, code)
	// A viewer without the video grant sees the alerts but not the clips.
	code, body = call(t, h, tokens["viewer_a"], "GET", "/api/cameras/site-a/timeline", "")
	require.Equal(t, 200, code)
	assert.NotContains(t, string(body), "clip-site-a")
	assert.Contains(t, string(body), "CameraOffline")
	code, _ = call(t, h, tokens["admin"], "GET", "/api/cameras/site-a/timeline?since=yesterday", "")
	assert.Equal(t, http.StatusBadRequest, code)
}
