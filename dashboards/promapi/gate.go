package promapi

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of gate.enter when no slot freed up within the queue wait.
var (
	errGateFull   = errors.New("too many concurrent queries")
	errClientFull = errors.New("too many concurrent queries of this client")
)

// gate bounds how many queries run at once, in all and per client. A query waits at most wait for a slot, so
// a burst is smoothed out but a saturated API answers 503 at once instead of stacking requests (and their
// memory) up. The per-client bound keeps one client looping expensive queries from taking every slot: the
// others still find one free.
//
// The engine's ActiveQueryTracker also bounds concurrency, but it needs a file for its log, waits for as long
// as the query's own timeout, has no per-client bound, and does not cover /series and /labels, which read
// storage without the engine.
type gate struct {
	slots   chan struct{}
	perKey  int
	wait    time.Duration
	waiting atomic.Int64

	mu   sync.Mutex
	keys map[string]*keySlots
}

// keySlots are one client's slots; refs counts the queries holding or waiting for one, so the entry goes
// away with the client's last query and the map stays as small as the queries in flight.
type keySlots struct {
	slots chan struct{}
	refs  int
}

// newGate returns a gate of n slots in all and perKey per client (perKey >= n: no per-client bound).
func newGate(n, perKey int, wait time.Duration) *gate {
	return &gate{slots: make(chan struct{}, n), perKey: perKey, wait: wait, keys: map[string]*keySlots{}}
}

// enter takes a slot for client key ("" for none), waiting up to g.wait; the returned function gives it back
// and is safe to call twice. It returns errClientFull or errGateFull when the wait ran out, or ctx's error
// when ctx ended first.
func (g *gate) enter(ctx context.Context, key string) (release func(), err error) {
	var t *time.Timer
	timeout := func() <-chan time.Time {
		if t == nil {
			t = time.NewTimer(g.wait)
			g.waiting.Add(1)
		}
		return t.C
	}
	defer func() {
		if t != nil {
			t.Stop()
			g.waiting.Add(-1)
		}
	}()
	var ks *keySlots
	if key != "" && g.perKey < cap(g.slots) {
		ks = g.ref(key)
		if err := take(ctx, ks.slots, timeout, errClientFull); err != nil {
			g.unref(key)
			return nil, err
		}
	}
	if err := take(ctx, g.slots, timeout, errGateFull); err != nil {
		if ks != nil {
			<-ks.slots
			g.unref(key)
		}
		return nil, err
	}
	return sync.OnceFunc(func() {
		<-g.slots
		if ks != nil {
			<-ks.slots
			g.unref(key)
		}
	}), nil
}

// take puts a token into slots, at once or before timeout() fires or ctx ends.
func take(ctx context.Context, slots chan struct{}, timeout func() <-chan time.Time, full error) error {
	select {
	case slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case slots <- struct{}{}:
		return nil
	case <-timeout():
		return full
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) ref(key string) *keySlots {
	g.mu.Lock()
	defer g.mu.Unlock()
	ks := g.keys[key]
	if ks == nil {
		ks = &keySlots{slots: make(chan struct{}, g.perKey)}
		g.keys[key] = ks
	}
	ks.refs++
	return ks
}

func (g *gate) unref(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ks := g.keys[key]; ks != nil {
		if ks.refs--; ks.refs == 0 {
			delete(g.keys, key)
		}
	}
}

// inUse is the number of slots taken.
func (g *gate) inUse() int { return len(g.slots) }

// queued is the number of queries waiting for a slot.
func (g *gate) queued() int { return int(g.waiting.Load()) }

// clients is the number of clients with queries holding or waiting for a slot.
func (g *gate) clients() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.keys)
}
