package clock

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func received(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeTimerFiresAtDeadline(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(10 * time.Second)
	f.Advance(9 * time.Second)
	_, ok := received(tm.C())
	require.False(t, ok, "fired early")
	f.Advance(time.Second)
	v, ok := received(tm.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(10*time.Second), v)
	require.Zero(t, f.Waiters(), "a fired timer no longer waits")
	require.False(t, tm.Stop())
}

func TestFakeTickerTicksEveryPeriodAndDropsMissedTicks(t *testing.T) {
	f := NewFake(t0)
	tk := f.NewTicker(time.Second)
	f.Advance(time.Second)
	v, ok := received(tk.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Second), v)

	f.Advance(5 * time.Second) // nobody reads: one tick kept, the rest dropped, as time.Ticker
	v, ok = received(tk.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(2*time.Second), v)
	_, ok = received(tk.C())
	require.False(t, ok)

	tk.Reset(10 * time.Second)
	f.Advance(9 * time.Second)
	_, ok = received(tk.C())
	require.False(t, ok)
	f.Advance(time.Second)
	_, ok = received(tk.C())
	require.True(t, ok)

	tk.Stop()
	f.Advance(time.Hour)
	_, ok = received(tk.C())
	require.False(t, ok)
	require.Zero(t, f.Waiters())
}

func TestFakeStopAndResetDropStaleValues(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	f.Advance(time.Second) // fired, value not yet received
	require.False(t, tm.Reset(time.Minute), "the timer had fired")
	_, ok := received(tm.C())
	require.False(t, ok, "Reset must drop the value sent before it")
	f.Advance(time.Minute)
	_, ok = received(tm.C())
	require.True(t, ok)

	tm = f.NewTimer(time.Second)
	require.True(t, tm.Stop())
	f.Advance(time.Hour)
	_, ok = received(tm.C())
	require.False(t, ok)
}

func TestFakeFiresInDeadlineOrderWithNowAtEachDeadline(t *testing.T) {
	f := NewFake(t0)
	var seen []time.Duration
	for _, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		f.AfterFunc(d, func() { seen = append(seen, f.Now().Sub(t0)) })
	}
	f.Advance(time.Minute)
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, seen)
	require.Equal(t, t0.Add(time.Minute), f.Now())
}

func TestFakeAfterFuncMayUseTheClock(t *testing.T) {
	f := NewFake(t0)
	n := 0
	var tm Timer
	tm = f.AfterFunc(time.Second, func() {
		n++
		if n < 3 {
			tm.Reset(time.Second) // re-arming from inside the callback must not deadlock
		}
	})
	f.Advance(10 * time.Second)
	require.Equal(t, 3, n)
}

func TestFakeAdvanceToNext(t *testing.T) {
	f := NewFake(t0)
	_, ok := f.AdvanceToNext()
	require.False(t, ok)
	c := f.After(90 * time.Second)
	f.NewTimer(time.Hour)
	d, ok := f.AdvanceToNext()
	require.True(t, ok)
	require.Equal(t, 90*time.Second, d)
	_, ok = received(c)
	require.True(t, ok)
	require.Equal(t, []time.Time{t0.Add(time.Hour)}, f.pending())
}

func TestFakeSetBackOnlyMovesNow(t *testing.T) {
	f := NewFake(t0)
	c := f.After(time.Second)
	f.Set(t0.Add(-time.Hour))
	require.Equal(t, t0.Add(-time.Hour), f.Now())
	_, ok := received(c)
	require.False(t, ok)
	f.Set(t0.Add(time.Second))
	_, ok = received(c)
	require.True(t, ok)
}

// TestFakeBlockUntilThenAdvance is the pattern tests use: wait until the goroutine under test waits on the
// clock, then advance it; no sleep and no race between the two.
func TestFakeBlockUntilThenAdvance(t *testing.T) {
	f := NewFake(t0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	done := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		done <- Sleep(ctx, f, time.Minute)
	}()
	require.NoError(t, f.BlockUntil(ctx, 1))
	f.Advance(time.Minute)
	require.NoError(t, <-done)
	wg.Wait()
	require.Zero(t, f.Waiters(), "Sleep stops its timer")

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	require.ErrorIs(t, f.BlockUntil(short, 1), context.Canceled)
}

func TestSleepHonoursContext(t *testing.T) {
	f := NewFake(t0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, Sleep(ctx, f, time.Hour), context.Canceled)
	require.ErrorIs(t, Sleep(ctx, f, 0), context.Canceled)
	require.NoError(t, Sleep(context.Background(), f, 0))
}

func TestFakeTickerRejectsNonPositive(t *testing.T) {
	f := NewFake(t0)
	require.Panics(t, func() { f.NewTicker(0) })
}

func TestOrAndReal(t *testing.T) {
	f := NewFake(t0)
	require.Same(t, f, Or(f).(*Fake))
	c := Or(nil)
	require.False(t, c.Now().IsZero())
	tm := c.NewTimer(time.Hour)
	require.True(t, tm.Stop())
	tk := c.NewTicker(time.Hour)
	tk.Reset(2 * time.Hour)
	tk.Stop()
	require.GreaterOrEqual(t, c.Since(c.Now().Add(-time.Second)), time.Second)
}

func TestFakeAutoAdvanceRunsWaitsAtOnce(t *testing.T) {
	f := NewFake(t0)
	stop := f.AutoAdvance()
	defer stop()
	ctx := context.Background()
	for range 3 {
		require.NoError(t, Sleep(ctx, f, time.Minute))
	}
	<-f.After(30 * time.Second)
	require.Equal(t, t0.Add(3*time.Minute+30*time.Second), f.Now())
}
