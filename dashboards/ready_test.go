package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"citywatch/dashboards/auth"
	"citywatch/internal/clock"
)

// readyAudience: who gets the reasons behind /readyz. The status code is the same for everyone.
var readyAudience = []struct {
	name       string
	role       auth.Role
	sites      []string
	wantDetail bool
}{
	{"anonymous", "", nil, false},
	{"viewer of every site", auth.RoleViewer, []string{auth.AllSitesWildcard}, false},
	{"health staff", auth.RoleHealthStaff, []string{"a"}, false},
	{"operator of one site", auth.RoleOperator, []string{"a"}, false},
	{"operator of every site", auth.RoleOperator, nil, true},
	{"admin", auth.RoleAdmin, nil, true},
}

// TestReadyzDetailOnlyForAuthorised: /readyz is public, but why citywatch is not ready (paths, disk errors,
// broker addresses) is told only to principals who may read the self metrics of every site.
func TestReadyzDetailOnlyForAuthorised(t *testing.T) {
	a, _, _ := newTestAuth(t, auth.Config{})
	const reason = "write probe in /var/lib/citywatch: write: no space left on device"
	s, err := New(Config{}, Deps{Auth: a, Checks: []Check{{Name: "data_dir", Err: func() error { return errors.New(reason) }}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range readyAudience {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/readyz", nil)
			if c.role != "" {
				tok, err := a.IssueToken(context.Background(), c.name, c.role, c.sites, false, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503: %s", rec.Code, rec.Body)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if string(body["status"]) != `"not ready"` {
				t.Errorf("status %s, want \"not ready\"", body["status"])
			}
			_, hasDetail := body["checks"]
			if hasDetail != c.wantDetail {
				t.Errorf("detail shown = %v, want %v: %s", hasDetail, c.wantDetail, rec.Body)
			}
			if !c.wantDetail && len(body) != 1 {
				t.Errorf("the public body says more than the status: %s", rec.Body)
			}
		})
	}
}

// TestCachedRunsOncePerTTL: however many callers ask, the probe runs once per ttl, and a new result is taken
// after it.
func TestCachedRunsOncePerTTL(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	var runs atomic.Int32
	fail := atomic.Bool{}
	c := &cachedCheck{ttl: 2 * time.Second, now: clk.Now, check: func() error {
		runs.Add(1)
		if fail.Load() {
			return errors.New("disk full")
		}
		return nil
	}}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- c.err() }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("unexpected %v", err)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("100 callers within the ttl ran the probe %d times, want 1", n)
	}
	fail.Store(true)
	clk.Advance(time.Second)
	if err := c.err(); err != nil || runs.Load() != 1 {
		t.Fatalf("within the ttl: err %v after %d runs, want the cached nil after 1", err, runs.Load())
	}
	clk.Advance(time.Second)
	if err := c.err(); err == nil || runs.Load() != 2 {
		t.Fatalf("after the ttl: err %v after %d runs, want the new failure after 2", err, runs.Load())
	}
}

// TestCachedHungProbe: a probe stuck on a hung disk makes the other callers fail after ttl instead of
// queueing behind it.
func TestCachedHungProbe(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	c := &cachedCheck{ttl: 20 * time.Millisecond, now: time.Now, check: func() error {
		close(started)
		<-release
		return nil
	}}
	first := make(chan error, 1)
	go func() { first <- c.err() }()
	<-started
	if err := c.err(); err == nil {
		t.Fatal("a caller behind a hung probe got ready")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the probe's own caller: %v", err)
	}
}
