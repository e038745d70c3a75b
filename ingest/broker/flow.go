package broker

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// subscriberFlow holds publishers back while a network subscriber has many QoS 1/2 messages in flight, so that
// a subscriber that acknowledges more slowly than a burst arrives slows the burst down instead of losing
// messages.
//
// Why: mochi drops a QoS 1/2 message for a subscriber silently once Capabilities.MaximumInflight of its messages
// are unacknowledged (it only logs "client store quota reached"), and drops any message once
// MaximumClientWritesPending packets wait in its outbound queue. A subscriber's inflight count includes the
// messages still waiting in that queue, so keeping it below both limits loses nothing. Publishers see the
// wait as slower acknowledgements (QoS 1/2) or a paused read (QoS 0): the back-pressure MQTT has.
//
// A subscriber that stays at or above the mark for maxWait in a row no longer holds anyone back ("lagging",
// counted) until it is below half the mark again; messages beyond mochi's limits are then dropped for it and
// counted in citywatch_broker_subscriber_dropped_total. So a slow or stuck subscriber paces publishers for at
// most maxWait at a time, never stops ingest.
type subscriberFlow struct {
	high    int           // inflight messages of one subscriber at which publishers wait
	maxWait time.Duration // how long one subscriber may hold publishers back in a row

	n    atomic.Int32 // len(subs), read without the lock on the hot path
	mu   sync.Mutex
	subs map[*mqtt.Client]*subState
	// progress is closed (and replaced) when a subscriber acknowledged something while publishers wait.
	progress chan struct{}
	waiters  atomic.Int32

	lagging func() // counts a subscriber that stopped holding publishers back
}

type subState struct { // under subscriberFlow.mu
	lagging bool
	above   time.Time // since when the subscriber is at or above the high-water mark; zero when below
}

func newSubscriberFlow(high int, maxWait time.Duration, lagging func()) *subscriberFlow {
	return &subscriberFlow{high: high, maxWait: maxWait, subs: map[*mqtt.Client]*subState{},
		progress: make(chan struct{}), lagging: lagging}
}

// add tracks a network client that subscribed.
func (f *subscriberFlow) add(cl *mqtt.Client) {
	if cl.Net.Inline {
		return
	}
	f.mu.Lock()
	if f.subs[cl] == nil {
		f.subs[cl] = &subState{}
		f.n.Store(int32(len(f.subs)))
	}
	f.mu.Unlock()
}

// remove forgets a client that disconnected.
func (f *subscriberFlow) remove(cl *mqtt.Client) {
	if f.n.Load() == 0 {
		return
	}
	f.mu.Lock()
	if f.subs[cl] != nil {
		delete(f.subs, cl)
		f.n.Store(int32(len(f.subs)))
	}
	f.mu.Unlock()
	f.acked()
}

// acked wakes the waiting publishers: a subscriber acknowledged a message (or left).
func (f *subscriberFlow) acked() {
	if f.waiters.Load() == 0 {
		return
	}
	f.mu.Lock()
	close(f.progress)
	f.progress = make(chan struct{})
	f.mu.Unlock()
}

// wait returns when no tracked subscriber that keeps up has high or more messages in flight. done ends the
// wait early (the broker is closing).
func (f *subscriberFlow) wait(done <-chan struct{}) {
	if f.n.Load() == 0 {
		return
	}
	var timer *time.Timer
	for {
		f.mu.Lock()
		behind, progress := f.behindLocked(time.Now()), f.progress
		if behind == nil {
			f.mu.Unlock()
			break
		}
		if timer == nil {
			timer = time.NewTimer(f.maxWait)
			f.waiters.Add(1)
		}
		f.mu.Unlock()
		select {
		case <-progress:
		case <-timer.C:
			timer.Reset(f.maxWait)
		case <-done:
			f.waiters.Add(-1)
			timer.Stop()
			return
		}
	}
	if timer != nil {
		f.waiters.Add(-1)
		timer.Stop()
	}
}

// behindLocked returns a subscriber publishers must wait for, or nil. A subscriber above the high-water mark
// for maxWait in a row becomes lagging and is waited for again once it is below half the mark.
func (f *subscriberFlow) behindLocked(now time.Time) *mqtt.Client {
	var behind *mqtt.Client
	for cl, st := range f.subs {
		n := cl.State.Inflight.Len()
		switch {
		case st.lagging:
			if n < f.high/2 {
				st.lagging = false
			}
		case n < f.high || cl.Closed():
			st.above = time.Time{}
		case st.above.IsZero():
			st.above = now
			behind = cl
		case now.Sub(st.above) >= f.maxWait:
			st.lagging, st.above = true, time.Time{}
			f.lagging()
		default:
			behind = cl
		}
	}
	return behind
}
