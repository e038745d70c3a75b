package dashboards

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"citywatch/alerts"
	"citywatch/dashboards/auth"
)

type requestKey struct{}

// ctxAlerts is fakeAlerts that records which request each call's context came from.
type ctxAlerts struct {
	fakeAlerts
	mu   sync.Mutex
	reqs map[string]any
}

func (c *ctxAlerts) seen(name string, ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs[name] = ctx.Value(requestKey{})
}

func (c *ctxAlerts) Alerts(ctx context.Context, f alerts.AlertFilter) ([]alerts.Alert, error) {
	c.seen("Alerts", ctx)
	return c.fakeAlerts.Alerts(ctx, f)
}

func (c *ctxAlerts) Alert(ctx context.Context, id int64) (alerts.Alert, error) {
	c.seen("Alert", ctx)
	return c.fakeAlerts.Alert(ctx, id)
}

func (c *ctxAlerts) Ack(ctx context.Context, _ int64, _, _ string) error {
	c.seen("Ack", ctx)
	return nil
}

// TestAlertHandlersPassTheRequestContext: the alert routes hand the request's context to the alert manager,
// so a client that goes away stops the database work it asked for (alerts.TestCancelledRequestStopsWork
// shows the manager stopping).
func TestAlertHandlersPassTheRequestContext(t *testing.T) {
	s, a, _ := newAccessServer(t)
	fa := &ctxAlerts{reqs: map[string]any{}}
	s.deps.Alerts = fa
	token, err := a.IssueToken(context.Background(), "op", auth.RoleOperator, nil, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body, call string }{
		{"GET", "/api/alerts", "", "Alerts"},
		{"GET", "/api/alerts/1", "", "Alert"},
		{"POST", "/api/alerts/1/ack", `{"comment":"x"}`, "Ack"},
	} {
		ctx := context.WithValue(context.Background(), requestKey{}, c.path)
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		s.Handler().ServeHTTP(httptest.NewRecorder(), req)
		fa.mu.Lock()
		got, called := fa.reqs[c.call]
		fa.mu.Unlock()
		if !called {
			t.Errorf("%s %s: %s not called", c.method, c.path, c.call)
			continue
		}
		if got != c.path {
			t.Errorf("%s %s: %s ran under a context not derived from the request's (saw %v)", c.method, c.path, c.call, got)
		}
	}
}
