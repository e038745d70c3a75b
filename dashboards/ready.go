package dashboards

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"citywatch/dashboards/auth"
)

// readyz answers 200 when every non-degraded check passes and 503 otherwise. Anyone may ask (load balancers
// and orchestrators probe without credentials), but the reasons name paths, addresses and errors of the
// installation, so only callers who may read the self metrics of every site (admins, operators of all sites,
// the metrics token) get the per-check detail; everyone else gets the status alone.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	list := s.deps.Checks
	if s.deps.MoreChecks != nil {
		list = append(slices.Clip(list), s.deps.MoreChecks()...)
	}
	checks := make(map[string]string, len(list))
	ready := true
	for _, c := range list {
		if err := c.Err(); err != nil {
			ready = ready && c.Degraded
			checks[c.Name] = err.Error()
			continue
		}
		checks[c.Name] = "ok"
	}
	status, code := "ready", http.StatusOK
	if !ready {
		status, code = "not ready", http.StatusServiceUnavailable
	}
	body := map[string]any{"status": status}
	if s.mayReadReadiness(r) {
		body["checks"] = checks
	}
	writeJSON(w, code, body)
}

// mayReadReadiness reports whether r's caller may see why citywatch is (not) ready: a principal allowed the
// self metrics of every site. Without access control (handler tests) everyone may, as with requireAllSites.
func (s *Server) mayReadReadiness(r *http.Request) bool {
	if s.deps.Auth == nil {
		return true
	}
	p, ok := auth.FromContext(r.Context())
	return ok && p.Can(auth.ActionReadMetrics) && p.AllSites()
}

// Cached wraps a readiness check that writes (a disk or database probe) so that it runs at most once per ttl
// however often /readyz is asked: /readyz is public, and must not become a way to hammer the disk. Callers
// arriving while a run is in progress wait for it for at most ttl; a run that takes longer (a hung disk) is
// reported as a failure rather than holding every caller.
func Cached(ttl time.Duration, check func() error) func() error {
	c := &cachedCheck{ttl: ttl, check: check, now: time.Now}
	return c.err
}

// cachedCheck is Cached's state.
type cachedCheck struct {
	ttl   time.Duration
	check func() error
	now   func() time.Time

	mu      sync.Mutex
	at      time.Time // when the last result was taken; zero before the first
	last    error
	running chan struct{} // closed when the run in progress ends; nil when none is
	started time.Time
}

func (c *cachedCheck) err() error {
	c.mu.Lock()
	now := c.now()
	if !c.at.IsZero() && now.Sub(c.at) < c.ttl {
		defer c.mu.Unlock()
		return c.last
	}
	if c.running == nil {
		// This caller runs the check; the others wait for its result.
		done := make(chan struct{})
		c.running, c.started = done, now
		c.mu.Unlock()
		err := c.check()
		c.mu.Lock()
		c.at, c.last, c.running = c.now(), err, nil
		c.mu.Unlock()
		close(done)
		return err
	}
	done, started := c.running, c.started
	c.mu.Unlock()
	t := time.NewTimer(c.ttl)
	defer t.Stop()
	select {
	case <-done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.last
	case <-t.C:
		return fmt.Errorf("probe has not finished after %s (storage hung?)", c.now().Sub(started).Round(time.Second))
	}
}
