// Package clock is citywatch's one source of time: Now, timers and tickers behind a small interface, the
// real clock by default and one Fake that tests move by hand. Components take a Clock in their Deps (nil is
// the real clock, see Or), so retry schedules, check intervals, idle timeouts and retention run in tests
// without real waiting and without asserting wall-clock time.
//
// Network deadlines (net.Conn.SetDeadline) stay on the real clock: the kernel does not know a fake one.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers and tickers that fire by it.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Since returns the time elapsed since t.
	Since(t time.Time) time.Duration
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
	// NewTimer returns a Timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a Ticker that fires every d; d must be > 0.
	NewTicker(d time.Duration) Ticker
	// AfterFunc calls f in its own goroutine once d has passed (on the Fake: synchronously, within Advance).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a one-shot timer, as time.Timer. Like Go 1.23 timers, Stop and Reset guarantee that no value
// sent before the call is received after it.
type Timer interface {
	// C returns the channel the timer fires on (nil for AfterFunc timers).
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether the call stopped it.
	Stop() bool
	// Reset makes the timer fire after d; it reports whether the timer was active.
	Reset(d time.Duration) bool
}

// Ticker fires periodically, as time.Ticker; ticks a slow receiver misses are dropped.
type Ticker interface {
	// C returns the channel the ticks are sent on.
	C() <-chan time.Time
	// Stop turns the ticker off.
	Stop()
	// Reset stops the ticker and makes it fire every d from now on.
	Reset(d time.Duration)
}

// Real returns the clock of the machine.
func Real() Clock { return realClock{} }

// Or returns c, or the real clock when c is nil: what a component does with the Clock in its Deps.
func Or(c Clock) Clock {
	if c == nil {
		return Real()
	}
	return c
}

// Sleep waits for d on c, or until ctx is done, in which case it returns ctx's error.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) Since(t time.Time) time.Duration        { return time.Since(t) }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (realClock) NewTimer(d time.Duration) Timer         { return realTimer{time.NewTimer(d)} }
func (realClock) NewTicker(d time.Duration) Ticker       { return realTicker{time.NewTicker(d)} }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }
