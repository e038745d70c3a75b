package reconcile

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

type cfg struct{ id, url string }

type item struct{ cfg cfg }

func plan(cur *Set[*item], cfgs ...cfg) (*Set[*item], []*item, error) {
	return Plan(cur, cfgs, func(c cfg) string { return c.id }, func(it *item, c cfg) bool { return it.cfg == c },
		func(c cfg) (*item, error) {
			if c.url == "" {
				return nil, errors.New("no url")
			}
			return &item{cfg: c}, nil
		})
}

var planCases = []struct {
	name       string
	before     []cfg
	after      []cfg
	kept       []string // ids whose item is the same instance
	stale      []string // ids of the stale items (old configs)
	wantErr    bool
	afterOrder []string
}{
	{"first build", nil, []cfg{{"a", "u1"}, {"b", "u2"}}, nil, nil, false, []string{"a", "b"}},
	{"unchanged", []cfg{{"a", "u1"}}, []cfg{{"a", "u1"}}, []string{"a"}, nil, false, []string{"a"}},
	{"added", []cfg{{"a", "u1"}}, []cfg{{"a", "u1"}, {"b", "u2"}}, []string{"a"}, nil, false, []string{"a", "b"}},
	{"removed", []cfg{{"a", "u1"}, {"b", "u2"}}, []cfg{{"b", "u2"}}, []string{"b"}, []string{"a"}, false, []string{"b"}},
	{"changed", []cfg{{"a", "u1"}, {"b", "u2"}}, []cfg{{"a", "u9"}, {"b", "u2"}}, []string{"b"}, []string{"a"}, false, []string{"a", "b"}},
	{"reordered", []cfg{{"a", "u1"}, {"b", "u2"}}, []cfg{{"b", "u2"}, {"a", "u1"}}, []string{"a", "b"}, nil, false, []string{"b", "a"}},
	{"build fails", []cfg{{"a", "u1"}}, []cfg{{"a", "u1"}, {"b", ""}}, nil, nil, true, nil},
}

func TestPlan(t *testing.T) {
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			var cur *Set[*item]
			if c.before != nil {
				var err error
				cur, _, err = plan(nil, c.before...)
				require.NoError(t, err)
			}
			next, stale, err := plan(cur, c.after...)
			if c.wantErr {
				require.Error(t, err)
				require.Nil(t, next)
				return
			}
			require.NoError(t, err)
			var order []string
			for _, it := range next.List {
				order = append(order, it.cfg.id)
				require.Same(t, it, next.Get(it.cfg.id))
			}
			require.Equal(t, c.afterOrder, order)
			for _, id := range c.kept {
				require.Same(t, cur.Get(id), next.Get(id), id)
			}
			var staleIDs []string
			for _, it := range stale {
				staleIDs = append(staleIDs, it.cfg.id)
			}
			require.Equal(t, c.stale, staleIDs)
		})
	}
}

func TestWorkerStopsAloneAndWaits(t *testing.T) {
	var never Worker
	never.Stop() // never started: nothing to stop
	require.False(t, never.Started())

	parent, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	var wg sync.WaitGroup
	var a, b Worker
	var aDone, bDone atomic.Bool
	a.Start(parent, &wg, func(ctx context.Context) { <-ctx.Done(); aDone.Store(true) })
	b.Start(parent, &wg, func(ctx context.Context) { <-ctx.Done(); bDone.Store(true) })
	require.True(t, a.Started())
	a.Stop()
	require.True(t, aDone.Load(), "Stop returns after the goroutine")
	require.False(t, bDone.Load(), "the other worker runs on")
	cancelAll() // the owner's Close
	wg.Wait()
	require.True(t, bDone.Load())
	<-b.Done()
}
