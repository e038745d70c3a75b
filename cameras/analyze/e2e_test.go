package analyze

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
	"citywatch/store/storetest"
)

// TestWithMonitorAndSimulator drives the whole path a deployment uses: the RTSP simulator with faults, the
// camera monitor (one connection per camera) handing its access units to the Analyzer, in real time.
func TestWithMonitorAndSimulator(t *testing.T) {
	testenv.SkipShort(t)
	ffmpeg := testenv.LookPath(t, "ffmpeg")
	sim := simtest.Start(t, camerasim.Config{Cameras: 2, H265: []int{2}})

	h := &harness{ev: &eventLog{}, app: &storetest.Appender{}}
	a, err := New(Config{FFmpegPath: ffmpeg, Cameras: []CameraConfig{
		{ID: "cam1", Site: "s", Zones: []Zone{zoneBand}, MotionThreshold: 0.1, FrozenAfter: 2 * time.Second, TamperAfter: time.Second},
		{ID: "cam2", Site: "s", FrozenAfter: 2 * time.Second},
	}}, Deps{Appender: h.app, Events: h.ev.Add})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	t.Cleanup(a.Close)

	mon, err := cameras.New(cameras.Config{Cameras: []cameras.CameraConfig{
		{ID: "cam1", URL: sim.URL(1), Transport: cameras.TransportTCP},
		{ID: "cam2", URL: sim.URL(2), Transport: cameras.TransportTCP},
	}}, cameras.Deps{Sink: a})
	require.NoError(t, err)
	require.NoError(t, mon.Start())
	t.Cleanup(mon.Close)

	require.Eventually(t, func() bool { return a.Status("cam1").Frames >= 4 && a.Status("cam2").Frames >= 4 },
		15*time.Second, 20*time.Millisecond)
	require.InDelta(t, 2, a.Status("cam1").FPS, 0.5)

	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultMotion}))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindMotion, "band", true); return ok }, 10*time.Second, 20*time.Millisecond)

	// A frozen camera still streams at its full rate; only the picture tells.
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultFrozen}))
	require.NoError(t, sim.SetFault(2, camerasim.Fault{Kind: camerasim.FaultFrozen}))
	require.Eventually(t, func() bool {
		return a.Status("cam1").Tamper[TamperFrozen] && a.Status("cam2").Tamper[TamperFrozen]
	}, 15*time.Second, 20*time.Millisecond)
	st, err := mon.Camera("cam1")
	require.NoError(t, err)
	require.True(t, st.State.Streaming(), "the monitor alone sees a healthy stream: %s", st.State)

	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultBlack}))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperBlack, true); return ok }, 15*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return !a.Status("cam1").Tamper[TamperFrozen] }, 15*time.Second, 20*time.Millisecond,
		"black replaces frozen")
	require.Zero(t, a.Status("cam1").Dropped, "real time: nothing dropped")
}
