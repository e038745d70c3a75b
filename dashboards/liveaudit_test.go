package dashboards

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// refusingMedia is fakeMedia whose live view refuses while down is true, as a camera without a picture does.
type refusingMedia struct {
	fakeMedia
	down *bool
}

func (m refusingMedia) ServeLive(w http.ResponseWriter, r *http.Request, camera string) {
	if *m.down {
		WriteError(w, http.StatusServiceUnavailable, "camera has no picture yet", nil)
		return
	}
	m.fakeMedia.ServeLive(w, r, camera)
}

// TestLiveViewRetriesAuditedOncePerSeries: a page retrying a live view of a camera that has no picture leaves
// one failed-attempt record per series of retries, not one start and one "watched 0s" stop per retry; a view
// that streams is recorded as a start and a stop; after it, a new failure starts a new series.
func TestLiveViewRetriesAuditedOncePerSeries(t *testing.T) {
	s, a, lg := newAccessServer(t)
	down := true
	s.deps.Media = refusingMedia{down: &down}
	ctx := context.Background()
	token, err := a.IssueToken(ctx, "nurse-ward-a", auth.RoleHealthStaff, []string{"site-a"}, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	view := func(want int) {
		t.Helper()
		req := httptest.NewRequest("GET", "/api/cameras/site-a/live", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("live view: %d, want %d", rec.Code, want)
		}
	}
	count := func(action audit.Action, success bool) int {
		t.Helper()
		recs, err := lg.Query(ctx, audit.Filter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Success == success {
				n++
			}
		}
		return n
	}
	for range 5 {
		view(http.StatusServiceUnavailable)
	}
	if f, ok, stops := count(audit.LiveViewStart, false), count(audit.LiveViewStart, true), count(audit.LiveViewStop, true); f != 1 || ok != 0 || stops != 0 {
		t.Fatalf("after 5 refused attempts: %d failed starts, %d starts, %d stops; want 1, 0, 0", f, ok, stops)
	}
	down = false
	view(http.StatusOK)
	if ok, stops := count(audit.LiveViewStart, true), count(audit.LiveViewStop, true); ok != 1 || stops != 1 {
		t.Fatalf("after a view: %d starts, %d stops; want 1, 1", ok, stops)
	}
	down = true
	view(http.StatusServiceUnavailable)
	view(http.StatusServiceUnavailable)
	if f := count(audit.LiveViewStart, false); f != 2 {
		t.Fatalf("a new series after a view: %d failed starts, want 2", f)
	}
}

// TestAttemptSeriesBounded: the memory of failing series is bounded and forgets series after their window.
func TestAttemptSeriesBounded(t *testing.T) {
	now := time.Unix(0, 0)
	s := newAttemptSeries(3, time.Minute, func() time.Time { return now })
	for i, c := range []struct {
		key   string
		first bool
	}{{"a", true}, {"a", false}, {"b", true}, {"c", true}, {"d", true}, {"a", true}} {
		if got := s.fail(c.key); got != c.first {
			t.Errorf("step %d fail(%s) = %v, want %v", i, c.key, got, c.first)
		}
		if len(s.seen) > 3 {
			t.Fatalf("step %d: %d series remembered, cap 3", i, len(s.seen))
		}
	}
	now = now.Add(2 * time.Minute)
	if !s.fail("a") {
		t.Error("a series is remembered past its window")
	}
	s.succeed("a")
	if !s.fail("a") {
		t.Error("a failure after a success does not start a new series")
	}
}
