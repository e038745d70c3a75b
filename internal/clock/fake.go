package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock that moves only when the test says so. Advance fires every timer and ticker that falls
// due, in deadline order, each seeing Now equal to its own deadline; BlockUntil lets a test wait until the
// code under test has reached its timers, so "advance, then observe" needs no sleep. Safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	waiters map[*fakeTimer]struct{}
	changed chan struct{} // closed and replaced whenever the set of waiters changes
}

// NewFake returns a Fake showing t.
func NewFake(t time.Time) *Fake {
	return &Fake{now: t, waiters: map[*fakeTimer]struct{}{}, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns the fake time elapsed since t.
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// After returns a channel that receives once the clock has been advanced by d.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTimer returns a timer that fires when the clock has been advanced by d.
func (f *Fake) NewTimer(d time.Duration) Timer { return f.add(d, 0, nil) }

// NewTicker returns a ticker that fires every d of fake time. It panics if d <= 0, as time.NewTicker.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	return fakeTicker{f.add(d, d, nil)}
}

// AfterFunc calls fn, synchronously within Advance, once the clock has been advanced by d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer { return f.add(d, 0, fn) }

// Waiters returns the number of active timers and tickers.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil waits until at least n timers and tickers are active, or ctx is done.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		have, changed := len(f.waiters), f.changed
		f.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Advance moves the clock forward by d, firing what falls due on the way.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.advanceTo(target)
}

// Set moves the clock to t, firing what falls due on the way; a t in the past only moves Now back.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	if !t.After(f.now) {
		f.now = t
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	f.advanceTo(t)
}

// AdvanceToNext moves the clock to the earliest deadline of an active timer or ticker and fires it. It
// returns how far the clock moved, and false (without moving) when nothing waits.
func (f *Fake) AdvanceToNext() (time.Duration, bool) {
	f.mu.Lock()
	next := f.earliestLocked()
	if next == nil {
		f.mu.Unlock()
		return 0, false
	}
	from, at := f.now, next.at
	f.mu.Unlock()
	if at.Before(from) {
		at = from
	}
	f.advanceTo(at)
	return at.Sub(from), true
}

// AutoAdvance starts a goroutine that, whenever a timer or ticker waits, moves the clock to its deadline,
// so code that waits on the clock in one goroutine at a time (a round polling until its deadline) runs
// at once and ends at exactly the fake time it would take. A ticker would keep it advancing: use it with
// timers only. stop ends the goroutine and waits for it.
func (f *Fake) AutoAdvance() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f.BlockUntil(ctx, 1) == nil {
			f.AdvanceToNext()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (f *Fake) advanceTo(target time.Time) {
	for {
		f.mu.Lock()
		w := f.earliestLocked()
		if w == nil || w.at.After(target) {
			if target.After(f.now) {
				f.now = target
			}
			f.mu.Unlock()
			return
		}
		if w.at.After(f.now) {
			f.now = w.at
		}
		fn := w.fn
		if w.period > 0 {
			w.at = w.at.Add(w.period)
		} else {
			f.removeLocked(w)
		}
		if fn == nil {
			select { // like time.Ticker, drop the tick a slow receiver has not taken
			case w.c <- f.now:
			default:
			}
		}
		f.mu.Unlock()
		if fn != nil {
			fn()
		}
	}
}

// earliestLocked returns the waiter due first (ties: created first), or nil.
func (f *Fake) earliestLocked() *fakeTimer {
	var best *fakeTimer
	for w := range f.waiters {
		if best == nil || w.at.Before(best.at) || (w.at.Equal(best.at) && w.seq < best.seq) {
			best = w
		}
	}
	return best
}

func (f *Fake) add(d, period time.Duration, fn func()) *fakeTimer {
	w := &fakeTimer{f: f, period: period, fn: fn}
	if fn == nil {
		w.c = make(chan time.Time, 1)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scheduleLocked(w, d)
	return w
}

func (f *Fake) scheduleLocked(w *fakeTimer, d time.Duration) {
	f.seq++
	w.seq = f.seq
	w.at = f.now.Add(d)
	f.waiters[w] = struct{}{}
	f.signalLocked()
}

func (f *Fake) removeLocked(w *fakeTimer) bool {
	if _, ok := f.waiters[w]; !ok {
		return false
	}
	delete(f.waiters, w)
	f.signalLocked()
	return true
}

func (f *Fake) signalLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// pending lists the deadlines of the active waiters, earliest first (for tests of the Fake itself).
func (f *Fake) pending() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Time, 0, len(f.waiters))
	for w := range f.waiters {
		out = append(out, w.at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// fakeTimer is a Fake's timer or (period > 0) ticker.
type fakeTimer struct {
	f      *Fake
	seq    uint64
	at     time.Time
	period time.Duration
	c      chan time.Time
	fn     func()
}

func (w *fakeTimer) C() <-chan time.Time { return w.c }

func (w *fakeTimer) Stop() bool {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	w.drainLocked()
	return w.f.removeLocked(w)
}

func (w *fakeTimer) Reset(d time.Duration) bool {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	w.drainLocked()
	_, active := w.f.waiters[w]
	if w.period > 0 {
		if d <= 0 {
			panic("clock: non-positive interval for Ticker.Reset")
		}
		w.period = d
	}
	w.f.scheduleLocked(w, d)
	return active
}

// drainLocked drops a value sent before Stop or Reset, as Go 1.23 timers do.
func (w *fakeTimer) drainLocked() {
	if w.c == nil {
		return
	}
	select {
	case <-w.c:
	default:
	}
}

// Ticker's Stop and Reset have no result.
type fakeTicker struct{ *fakeTimer }

func (t fakeTicker) Stop()                 { t.fakeTimer.Stop() }
func (t fakeTicker) Reset(d time.Duration) { t.fakeTimer.Reset(d) }
