package cameras

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
	"citywatch/store"
	"citywatch/store/storetest"
)

// Test timing. Every bound asserted below is derived from these.
const (
	testStall         = time.Second
	testCheck         = 50 * time.Millisecond
	testReconnectMin  = 200 * time.Millisecond
	testReconnectMax  = time.Second
	testMetrics       = 100 * time.Millisecond
	testPassword      = "s3cr3t-P@ss/w0rd" // has characters that URL-escape
	testUsername      = "operator"
	testWrongPassword = "wr0ng-S3CRET-pw"
)

// recorder collects events.
type recorder struct{ testenv.Log[Event] }

// find returns the first event for camera id to state `to` at or after index from.
func (r *recorder) find(id string, to State, after time.Time) (Event, bool) {
	for _, ev := range r.All() {
		if ev.CameraID == id && ev.To == to && !ev.Time.Before(after) {
			return ev, true
		}
	}
	return Event{}, false
}

type harness struct {
	sim  *camerasim.Server
	mon  *Monitor
	rec  *recorder
	app  *storetest.Appender
	logs *testenv.Buffer
}

func testCamera(id, url string) CameraConfig {
	return CameraConfig{
		ID: id, Site: "site-a", URL: url, Transport: TransportTCP,
		StallTimeout: testStall, ReconnectMin: testReconnectMin, ReconnectMax: testReconnectMax, Jitter: 0.1,
	}
}

func startMonitor(t *testing.T, cams []CameraConfig) *harness {
	t.Helper()
	return startMonitorWith(t, cams, nil)
}

// onlineCamera starts the simulator with one camera and a monitor of it as "cam1", and waits until cam1 is
// online.
func onlineCamera(t *testing.T) (*camerasim.Server, *harness) {
	t.Helper()
	sim := simtest.Start(t, camerasim.Config{Cameras: 1})
	h := startMonitor(t, []CameraConfig{testCamera("cam1", sim.URL(1))})
	h.waitState(t, "cam1", StateOnline, 10*time.Second)
	return sim, h
}

func startMonitorWith(t *testing.T, cams []CameraConfig, tweak func(*Deps)) *harness {
	t.Helper()
	h := &harness{rec: &recorder{}, app: &storetest.Appender{}, logs: &testenv.Buffer{}}
	deps := Deps{
		Appender: h.app,
		Logger:   slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Events:   h.rec.Add,
	}
	if tweak != nil {
		tweak(&deps)
	}
	mon, err := New(Config{Cameras: cams, MetricsInterval: testMetrics, CheckInterval: testCheck}, deps)
	require.NoError(t, err)
	require.NoError(t, mon.Start())
	t.Cleanup(mon.Close)
	h.mon = mon
	return h
}

// minWait is the shortest bound waitState and waitEvent poll for. The monitor tests run in parallel
// (ioParallel), with -race, next to other packages' tests: a camera that comes online in half a second alone
// can take many seconds then. A bound only turns a hang into a failure — how soon the monitor decides is
// pinned on the fake clock (clock_test.go) — so it is generous; polling costs nothing once the state is there.
const minWait = 60 * time.Second

// waitState polls until camera id is in state want (within, at least minWait) and returns its status.
func (h *harness) waitState(t *testing.T, id string, want State, within time.Duration) Status {
	t.Helper()
	var st Status
	testenv.Eventually(t, max(within, minWait), 10*time.Millisecond, func() string {
		var err error
		if st, err = h.mon.Camera(id); err != nil {
			return fmt.Sprintf("camera %s: %v", id, err)
		}
		if st.State != want {
			return fmt.Sprintf("camera %s never reached %s; last status %+v", id, want, st)
		}
		return ""
	})
	return st
}

// waitEvent polls until camera id has had a change to state to after the given time (within, at least
// minWait) and returns the event.
func (h *harness) waitEvent(t *testing.T, id string, to State, after time.Time, within time.Duration) Event {
	t.Helper()
	var ev Event
	testenv.Eventually(t, max(within, minWait), 10*time.Millisecond, func() string {
		var ok bool
		if ev, ok = h.rec.find(id, to, after); !ok {
			return fmt.Sprintf("no %s event for %s; events %+v", to, id, h.rec.All())
		}
		return ""
	})
	return ev
}

func TestMonitorOnlineAndMetrics(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	sim, h := onlineCamera(t)
	var st Status
	require.Eventually(t, func() bool {
		st, _ = h.mon.Camera("cam1")
		return st.KeyframeInterval > 0 && st.FPS > 0 && st.BitrateBps > 0
	}, minWait, 20*time.Millisecond)
	require.Equal(t, CodecH264, st.Codec)
	require.Equal(t, 640, st.Width)
	require.Equal(t, 360, st.Height)
	require.Equal(t, "Constrained Baseline", st.Profile)
	require.InDelta(t, camerasim.FPS, st.NominalFPS, 0.01)
	require.Equal(t, "rtsp://"+sim.Addr()+"/cam1", st.URL)

	names := []string{"camera_up", "camera_fps", "camera_bitrate_bps", "camera_keyframe_interval_seconds",
		"camera_last_frame_age_seconds", "camera_packet_loss_ratio"}
	require.Eventually(t, func() bool {
		for _, n := range names {
			if _, ok := h.app.Last(n, "camera", "cam1"); !ok {
				return false
			}
		}
		s, _ := h.app.Last("camera_up", "camera", "cam1")
		return s.V == 1
	}, minWait, 20*time.Millisecond)
	up, _ := h.app.Last("camera_up", "camera", "cam1")
	require.Equal(t, []store.Label{{Name: "camera", Value: "cam1"}, {Name: "site", Value: "site-a"}}, up.Labels)
	ev := h.waitEvent(t, "cam1", StateOnline, time.Time{}, time.Second)
	require.Equal(t, StateConnecting, ev.From)
	require.Zero(t, ev.OutageDuration, "the first connection is not a recovery")
}

func TestMonitorStallDetectedWithinStallTimeout(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	sim := simtest.Start(t, camerasim.Config{Cameras: 2})
	sink := &countingSink{}
	h := startMonitorWith(t, []CameraConfig{testCamera("cam1", sim.URL(1)), testCamera("cam2", sim.URL(2))},
		func(d *Deps) { d.Sink = sink })
	h.waitState(t, "cam1", StateOnline, 10*time.Second)
	h.waitState(t, "cam2", StateOnline, 10*time.Second)

	faultAt := time.Now()
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultStall}))
	ev := h.waitEvent(t, "cam1", StateStalled, faultAt, 10*testStall)
	// The stall is never declared before StallTimeout of silence, counted from the last frame of cam1 that
	// arrived: on a loaded machine the simulator may have sent nothing for a while before the test sets the
	// fault (make stress: stalled 848 ms after the fault), so the fault's time is not when the silence began.
	// How late it may come is a question of scheduling on a busy machine, not of the monitor:
	// TestStallOnTheCheckAtStallTimeout pins it exactly on the fake clock.
	silence := ev.Time.Sub(sink.lastTime("cam1"))
	t.Logf("stall declared after %s of silence, %s after the fault (StallTimeout %s, CheckInterval %s)", silence,
		ev.Time.Sub(faultAt), testStall, testCheck)
	require.GreaterOrEqual(t, silence, testStall, "stall declared before StallTimeout of silence")
	require.Contains(t, ev.Reason, "no RTP packets")

	st, _ := h.mon.Camera("cam2")
	require.Equal(t, StateOnline, st.State, "one camera's stall affects another")

	resumeAt := time.Now()
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultNone}))
	rec := h.waitEvent(t, "cam1", StateOnline, resumeAt, 10*time.Second)
	require.Greater(t, rec.OutageDuration, time.Duration(0))
}

func TestMonitorDisconnectRecoversWithOutage(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	sim, h := onlineCamera(t)

	faultAt := time.Now()
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultDisconnect, Duration: 2 * testReconnectMin}))
	off := h.waitEvent(t, "cam1", StateOffline, faultAt, 5*time.Second)
	// Detected by the close itself, not by StallTimeout of silence: the reason says which (a wall-clock bound
	// of 1 s here failed on a loaded machine; how soon the monitor acts is pinned on the fake clock).
	require.Contains(t, off.Reason, "closed")
	require.NotContains(t, off.Reason, "no RTP packets")

	on := h.waitEvent(t, "cam1", StateOnline, off.Time, 10*time.Second)
	require.Equal(t, on.Time.Sub(off.Time), on.OutageDuration)
	require.GreaterOrEqual(t, on.OutageDuration, time.Duration(float64(testReconnectMin)*0.9), "reconnected before the backoff")
	st, _ := h.mon.Camera("cam1")
	require.GreaterOrEqual(t, st.Reconnects, uint64(1))
	require.NotEmpty(t, st.LastError)
}

func TestMonitorRefuse(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	sim := simtest.Start(t, camerasim.Config{Cameras: 1})
	closedAddr := closedPort(t)

	startAt := time.Now()
	h := startMonitor(t, []CameraConfig{testCamera("cam1", sim.URL(1)), testCamera("dead", "rtsp://"+closedAddr+"/x")})
	off := h.waitEvent(t, "dead", StateOffline, startAt, 5*time.Second)
	require.Equal(t, "connection refused", off.Reason) // the refusal itself, not a timeout

	h.waitState(t, "cam1", StateOnline, 10*time.Second)
	faultAt := time.Now()
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultRefuse}))
	ev := h.waitEvent(t, "cam1", StateOffline, faultAt, 5*time.Second)
	require.NotContains(t, ev.Reason, "no RTP packets", "the drop is seen as a drop, not as StallTimeout of silence")
	// After the drop, reconnects are answered 503.
	require.Eventually(t, func() bool {
		st, _ := h.mon.Camera("cam1")
		return st.State == StateOffline && strings.Contains(st.Reason, "503")
	}, minWait, 10*time.Millisecond)
}

// credentialCameras starts a simulator that asks for credentials and returns it with a camera that has them
// (its first path) and one with a wrong password (its second).
func credentialCameras(t *testing.T) (sim *camerasim.Server, good, bad CameraConfig) {
	sim = simtest.Start(t, camerasim.Config{Cameras: 2, Username: testUsername, Password: testPassword})
	good = testCamera("good", sim.URL(1))
	good.Username, good.Password = testUsername, testPassword
	bad = testCamera("bad", sim.URL(2))
	bad.Username, bad.Password = testUsername, testWrongPassword
	return sim, good, bad
}

func TestMonitorUnauthorized(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	_, good, bad := credentialCameras(t)
	bad.ReconnectMax = time.Hour // a 401 must wait ReconnectMax, not retry fast
	none := testCamera("none", bad.URL)
	h := startMonitor(t, []CameraConfig{good, bad, none})

	h.waitState(t, "good", StateOnline, 10*time.Second)
	st := h.waitState(t, "bad", StateUnauthorized, 5*time.Second)
	require.Contains(t, st.Reason, "rejected the credentials")
	st = h.waitState(t, "none", StateUnauthorized, 5*time.Second)
	require.Contains(t, st.Reason, "none are configured")
	// While "good" kept streaming for several fast-retry periods, "bad" did not retry.
	require.Eventually(t, func() bool {
		s, _ := h.mon.Camera("good")
		return s.Uptime > 3*testReconnectMin
	}, minWait, 10*time.Millisecond)
	st, _ = h.mon.Camera("bad")
	require.Zero(t, st.Reconnects)
}

func TestBackoff(t *testing.T) {
	cfg := testCamera("x", "rtsp://127.0.0.1/x")
	cfg.setDefaults()
	c := &camera{cfg: cfg}
	for attempt, want := range []time.Duration{testReconnectMin, 2 * testReconnectMin, 4 * testReconnectMin, testReconnectMax, testReconnectMax} {
		d := c.backoff(attempt, Failure{Kind: FailureClosed})
		require.InDelta(t, float64(want), float64(d), float64(want)*cfg.Jitter+1, "attempt %d", attempt)
	}
	for _, k := range []FailureKind{FailureUnauthorized, FailureNoVideo, FailureTLS} {
		d := c.backoff(0, Failure{Kind: k})
		require.InDelta(t, float64(testReconnectMax), float64(d), float64(testReconnectMax)*cfg.Jitter+1)
	}
}

func TestMonitorGarbageRTP(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	sim, h := onlineCamera(t)

	faultAt := time.Now()
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultGarbage}))
	ev := h.waitEvent(t, "cam1", StateDegraded, faultAt, 15*time.Second)
	require.Contains(t, ev.Reason, "undecodable")

	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultNone}))
	h.waitEvent(t, "cam1", StateOnline, ev.Time, 15*time.Second)
}

func TestMonitorOtherFaultsStayOnline(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	// Frozen, black and motion are picture problems for cameras/analyze: the stream itself stays healthy.
	sim := simtest.Start(t, camerasim.Config{Cameras: 3})
	h := startMonitor(t, []CameraConfig{testCamera("c1", sim.URL(1)), testCamera("c2", sim.URL(2)), testCamera("c3", sim.URL(3))})
	for i, k := range []camerasim.FaultKind{camerasim.FaultFrozen, camerasim.FaultBlack, camerasim.FaultMotion} {
		require.NoError(t, sim.SetFault(i+1, camerasim.Fault{Kind: k}))
	}
	for _, id := range []string{"c1", "c2", "c3"} {
		h.waitState(t, id, StateOnline, 10*time.Second)
	}
	require.Eventually(t, func() bool {
		for _, id := range []string{"c1", "c2", "c3"} {
			if s, _ := h.mon.Camera(id); s.State != StateOnline || s.FPS < camerasim.FPS/2 {
				return false
			}
		}
		return true
	}, minWait, 20*time.Millisecond)
}

func TestCredentialsNeverLeak(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	sim, good, bad := credentialCameras(t)
	h := startMonitor(t, []CameraConfig{good, bad})
	h.waitState(t, "good", StateOnline, 10*time.Second)
	h.waitState(t, "bad", StateUnauthorized, 5*time.Second)
	// Exercise error paths of the good camera too: a drop, a reconnect, a 503 and garbage.
	faultAt := time.Now()
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultDisconnect, Duration: 2 * testReconnectMin}))
	off := h.waitEvent(t, "good", StateOffline, faultAt, 5*time.Second)
	h.waitEvent(t, "good", StateOnline, off.Time, 10*time.Second)
	faultAt = time.Now()
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultRefuse, Duration: time.Second}))
	require.Eventually(t, func() bool {
		st, _ := h.mon.Camera("good")
		return strings.Contains(st.LastError, "503")
	}, minWait, 10*time.Millisecond)
	h.waitEvent(t, "good", StateOnline, faultAt, 10*time.Second)
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultGarbage}))
	h.waitEvent(t, "good", StateDegraded, faultAt, 15*time.Second)

	statuses, err := json.Marshal(h.mon.Cameras())
	require.NoError(t, err)
	events, err := json.Marshal(h.rec.All())
	require.NoError(t, err)
	for where, text := range map[string]string{"status": string(statuses), "events": string(events), "logs": h.logs.String()} {
		for _, secret := range []string{testPassword, testWrongPassword, "s3cr3t", "wr0ng-S3CRET"} {
			require.NotContains(t, text, secret, "secret in %s", where)
		}
	}
	require.Contains(t, h.logs.String(), `"component":"cameras"`)
}

func TestSanitizer(t *testing.T) {
	s := newSanitizer("user", "p@ss word")
	for in, want := range map[string]string{
		"dial rtsp://user:p%40ss%20word@10.0.0.1/x failed": "dial rtsp://10.0.0.1/x failed",
		"bad password p@ss word here":                      "bad password *** here",
		"escaped p%40ss+word":                              "escaped ***",
		"ctl\r\nchars":                                     "ctl  chars",
	} {
		require.Equal(t, want, s(in))
	}
	require.LessOrEqual(t, len(s(strings.Repeat("x", 10000))), maxErrorText+4)
	require.Equal(t, "rtsp://cam.example/stream", redactURL("rtsp://u:p@cam.example/stream"))
}

// TestNoGoroutineLeak starts and stops 100 cameras of every misbehaving kind and checks every goroutine ends.
func TestNoGoroutineLeak(t *testing.T) {
	sim := simtest.Start(t, camerasim.Config{Cameras: 10, Username: testUsername, Password: testPassword})
	for i, k := range []camerasim.FaultKind{camerasim.FaultStall, camerasim.FaultDisconnect, camerasim.FaultRefuse, camerasim.FaultGarbage, camerasim.FaultFrozen} {
		require.NoError(t, sim.SetFault(i+1, camerasim.Fault{Kind: k}))
	}
	fakes := startBadServers(t)
	closedAddr := closedPort(t)

	runtime.GC()
	baseline := runtime.NumGoroutine()

	var cams []CameraConfig
	for i := range 100 {
		id := fmt.Sprintf("c%03d", i)
		var cc CameraConfig
		switch i % 4 {
		case 0:
			cc = testCamera(id, sim.URL(i%10+1))
			cc.Username, cc.Password = testUsername, testPassword
		case 1:
			cc = testCamera(id, sim.URL(i%10+1))
			cc.Username, cc.Password = testUsername, testWrongPassword
		case 2:
			cc = testCamera(id, "rtsp://"+closedAddr+"/x")
		default:
			cc = testCamera(id, "rtsp://"+fakes[i%len(fakes)].addr+"/x")
		}
		cams = append(cams, cc)
	}
	mon, err := New(Config{Cameras: cams, MetricsInterval: testMetrics, CheckInterval: testCheck}, Deps{
		Appender: &storetest.Appender{}, Events: func(Event) {},
	})
	require.NoError(t, err)
	require.NoError(t, mon.Start())
	// Let every camera reach a verdict, so sessions, readers and timers are all in flight.
	require.Eventually(t, func() bool {
		for _, s := range mon.Cameras() {
			if s.State == StateConnecting {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond)
	mon.Close()
	mon.Close() // idempotent
	testenv.GoroutinesBackTo(t, baseline, 10*time.Second)
}

// closedPort returns a loopback address that refuses TCP connections.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestSelfMetricsSurviveRebuild(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Cameras: []CameraConfig{testCamera("x", "rtsp://"+closedPort(t)+"/x")}, CheckInterval: testCheck}
	for range 2 { // a config reload builds a second Monitor on the same registry
		m, err := New(cfg, Deps{Registerer: reg})
		require.NoError(t, err)
		require.NoError(t, m.Start())
		require.Eventually(t, func() bool { s, _ := m.Camera("x"); return s.State == StateOffline }, 5*time.Second, 10*time.Millisecond)
		m.Close()
	}
	n, err := testutil.GatherAndCount(reg, "citywatch_cameras_state_changes_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 2.0, testutil.ToFloat64(mustCounterVec(t, reg)))
	empty, err := New(Config{}, Deps{})
	require.NoError(t, err)
	_, err = empty.Camera("nope")
	require.ErrorIs(t, err, ErrCameraNotFound)
}

func mustCounterVec(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	m := newSelfMetrics(reg)
	return m.stateChanges.WithLabelValues(string(StateOffline))
}
