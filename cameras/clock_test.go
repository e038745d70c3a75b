package cameras

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
)

var clockT0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// fakeTimed is a Monitor on a fake clock. step advances the clock and returns once every loop that was due
// has done its work and waits on the clock again, so what the test then reads is what those loops decided.
type fakeTimed struct {
	m       *Monitor
	clk     *clock.Fake
	rec     *recorder
	waiters int
}

func (f *fakeTimed) step(t *testing.T, d time.Duration) {
	t.Helper()
	f.clk.Advance(d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, f.clk.BlockUntil(ctx, f.waiters), "the monitor's loops did not come back to the clock")
}

// newFakeTimed builds a monitor of one camera on a fake clock. With dial false only the check loop and
// the event dispatcher run: the test plays the RTSP session by calling the camera's callbacks.
func newFakeTimed(t *testing.T, cam CameraConfig, dial bool) *fakeTimed {
	t.Helper()
	f := &fakeTimed{clk: clock.NewFake(clockT0), rec: &recorder{}}
	m, err := New(Config{Cameras: []CameraConfig{cam}, CheckInterval: testCheck}, Deps{Clock: f.clk, Events: f.rec.Add})
	require.NoError(t, err)
	f.m = m
	t.Cleanup(m.Close)
	if dial {
		require.NoError(t, m.Start())
		f.waiters = 2 // the check timer and the worker's reconnect wait
	} else {
		m.dispWG.Add(1)
		go func() {
			defer m.dispWG.Done()
			m.dispatch()
		}()
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.checkLoop()
		}()
		f.waiters = 1 // the check timer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, f.clk.BlockUntil(ctx, f.waiters))
	return f
}

// TestStallOnTheCheckAtStallTimeout: on the clock, a camera whose packets stop is stalled exactly at the
// first check that sees StallTimeout of silence — not one check earlier — and the event carries that time.
func TestStallOnTheCheckAtStallTimeout(t *testing.T) {
	f := newFakeTimed(t, testCamera("cam1", "rtsp://127.0.0.1:1/x"), false)
	c := f.m.set.Load().ByID["cam1"]
	c.sessionUp()
	packet := &rtp.Packet{Header: rtp.Header{Marker: true}}
	for range 10 { // half a second of stream, one packet per check
		f.step(t, testCheck)
		c.onRTP(packet, 0, false)
	}
	last := f.clk.Now()
	for f.clk.Now().Before(last.Add(testStall - testCheck)) {
		f.step(t, testCheck)
	}
	st, err := f.m.Camera("cam1")
	require.NoError(t, err)
	require.NotEqual(t, StateStalled, st.State, "stalled after %s of silence, before StallTimeout %s", f.clk.Now().Sub(last), testStall)

	f.step(t, testCheck)
	st, err = f.m.Camera("cam1")
	require.NoError(t, err)
	require.Equal(t, StateStalled, st.State)
	require.Contains(t, st.Reason, "no RTP packets")
	require.Eventually(t, func() bool { _, ok := f.rec.find("cam1", StateStalled, last); return ok },
		10*time.Second, time.Millisecond)
	ev, _ := f.rec.find("cam1", StateStalled, last)
	require.Equal(t, last.Add(testStall), ev.Time)

	c.onRTP(packet, 0, false) // packets again: online at the next check
	f.step(t, testCheck)
	st, _ = f.m.Camera("cam1")
	require.NotEqual(t, StateStalled, st.State)
}

// TestReconnectBackoffOnTheClock: after a refused connection the worker waits ReconnectMin (±Jitter) of the
// clock, then doubles the wait; no attempt happens early.
func TestReconnectBackoffOnTheClock(t *testing.T) {
	cam := testCamera("dead", "rtsp://"+closedPort(t)+"/x")
	f := newFakeTimed(t, cam, true)
	st, _ := f.m.Camera("dead")
	require.Equal(t, StateOffline, st.State)
	require.Zero(t, st.Reconnects)

	start := f.clk.Now()
	var attempts []time.Duration // clock time of each reconnect attempt, from the first failure
	for len(attempts) < 3 {
		require.Less(t, f.clk.Now().Sub(start), time.Minute, "no reconnects: %+v", st)
		f.step(t, testCheck/5)
		st, _ = f.m.Camera("dead")
		if int(st.Reconnects) > len(attempts) {
			attempts = append(attempts, f.clk.Now().Sub(start))
		}
	}
	j := cam.Jitter
	gap := []time.Duration{attempts[0], attempts[1] - attempts[0], attempts[2] - attempts[1]}
	for i, want := range []time.Duration{testReconnectMin, 2 * testReconnectMin, 4 * testReconnectMin} {
		lo, hi := time.Duration(float64(want)*(1-j)), time.Duration(float64(want)*(1+j))+testCheck/5
		require.True(t, gap[i] >= lo && gap[i] <= hi, "wait %d was %s, want %s ±%.0f%%", i+1, gap[i], want, 100*j)
	}
}
