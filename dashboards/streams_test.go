package dashboards

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/live"
)

// countingCtx counts the context lookups that pass through it.
type countingCtx struct {
	context.Context
	n *atomic.Int64
}

func (c countingCtx) Value(k any) any {
	c.n.Add(1)
	return c.Context.Value(k)
}

// TestOpenStreamsCostNoPerEventLookups: every event the bus publishes is checked against every open stream,
// so what that check costs is multiplied by the streams open and taken from every other request (with 2,000
// streams, /api/devices slowed to seconds). The check must use what the stream resolved when it opened, never
// look the requester up again: the lookups through each stream's request context must not grow with events.
func TestOpenStreamsCostNoPerEventLookups(t *testing.T) {
	const streams, events = 20, 200
	e := newLimitsEnv(t, Limits{MaxEventStreams: streams, MaxEventStreamsPerPrincipal: streams}, Deps{})
	viewer := auth.Principal{Kind: auth.KindUser, ID: "v", Name: "v", Role: auth.RoleViewer, Sites: []string{"s1"}}
	var lookups atomic.Int64
	ctx, cancel := context.WithCancel(countingCtx{Context: auth.NewContext(context.Background(), viewer), n: &lookups})
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Straight to the router: the principal sits below the counting context, so every lookup of it
			// passes through the counter.
			e.s.Router().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/events", nil).WithContext(ctx))
		}()
	}
	require.Eventually(t, func() bool { return e.bus.Subscribers() == streams }, 10*time.Second, time.Millisecond)
	before := lookups.Load()
	for i := range events {
		e.bus.Publish(live.Event{Kind: "device", Key: fmt.Sprint(i), Site: []string{"s1", "s2"}[i%2], Data: []byte(`{}`)})
	}
	assert.Less(t, lookups.Load()-before, int64(streams), "requester lookups while %d events went to %d streams", events, streams)
}
