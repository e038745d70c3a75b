package alerts

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
)

// fakeEngine is a QueryFunc over a fixed answer: what a centre's remote engine returns.
type fakeEngine struct {
	mu    sync.Mutex
	v     promql.Vector
	err   error
	exprs []string
}

func (f *fakeEngine) query(_ context.Context, expr string, ts time.Time) (promql.Vector, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exprs = append(f.exprs, expr)
	return f.v, f.err
}

// TestQueryFuncEvaluatesRules: with Deps.Query (a centre) rules run on it, without any Queryable; its
// failures mark the rule unhealthy and leave the alerts as they were until it answers again.
func TestQueryFuncEvaluatesRules(t *testing.T) {
	f := &fakeEngine{v: promql.Vector{
		{Metric: labels.FromStrings("__name__", "temperature", "edge", "edge-1", "site", "a"), F: 35},
		{Metric: labels.FromStrings("__name__", "temperature", "edge", "edge-2", "site", "b"), F: 36},
	}}
	c := clock.NewFake(t0)
	m, err := New(Config{DBPath: filepath.Join(t.TempDir(), "alerts.db"), Grouping: instantGrouping,
		Rules: []Rule{{Group: "city", Alert: "HotRoom", Expr: "temperature > 30"}}},
		Deps{Query: f.query, Outbox: &fakeOutbox{}, Clock: c})
	require.NoError(t, err)
	defer m.Close()
	m.evalOnce(context.Background())
	list, err := m.Alerts(context.Background(), AlertFilter{State: StateFiring})
	require.NoError(t, err)
	sites := map[string]string{}
	for _, a := range list {
		sites[a.Labels["site"]] = a.Labels["edge"]
	}
	require.Equal(t, map[string]string{"a": "edge-1", "b": "edge-2"}, sites)
	require.Equal(t, []string{"temperature > 30"}, f.exprs)

	f.mu.Lock()
	f.err = errors.New("query engine unreachable")
	f.mu.Unlock()
	c.Set(t0.Add(time.Second))
	m.evalOnce(context.Background())
	st := m.Rules()
	require.Equal(t, "err", st[0].Health)
	require.Contains(t, st[0].LastError, "unreachable")
	require.Equal(t, 2, st[0].Firing, "an engine outage does not resolve the alerts")
}

// TestNoQueryNoExpressionRules: without a Queryable or a Query, an expression rule is refused.
func TestNoQueryNoExpressionRules(t *testing.T) {
	_, err := New(Config{DBPath: filepath.Join(t.TempDir(), "alerts.db"), Rules: []Rule{{Group: "g", Alert: "A", Expr: "x > 0"}}},
		Deps{Outbox: &fakeOutbox{}})
	require.ErrorContains(t, err, "no Queryable")
}
