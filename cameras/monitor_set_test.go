package cameras

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
)

// A reload changes the camera list: the unchanged camera keeps its worker and session, the removed one
// stops, the added one starts, the changed one starts afresh.
func TestMonitorSetCamerasRecreatesOnlyWhatChanged(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	sim := simtest.Start(t, camerasim.Config{Cameras: 3})
	keep, drop, change := testCamera("keep", sim.URL(1)), testCamera("drop", sim.URL(2)), testCamera("change", sim.URL(3))
	h := startMonitor(t, []CameraConfig{keep, drop, change})
	for _, id := range []string{"keep", "drop", "change"} {
		h.waitState(t, id, StateOnline, 10*time.Second)
	}
	before := h.mon.set.Load()
	keepSince := mustStatus(t, h.mon, "keep").Since

	changed := change
	changed.Name = "Changed camera"
	added := testCamera("added", sim.URL(2))
	require.NoError(t, h.mon.SetCameras([]CameraConfig{keep, changed, added}))

	after := h.mon.set.Load()
	require.Same(t, before.ByID["keep"], after.ByID["keep"], "an unchanged camera keeps its instance")
	require.NotSame(t, before.ByID["change"], after.ByID["change"], "a changed camera is recreated")
	select {
	case <-before.ByID["drop"].worker.Done(): // its worker (and RTSP session) ended before SetCameras returned
	default:
		t.Fatal("the removed camera's worker still runs")
	}
	select {
	case <-before.ByID["change"].worker.Done():
	default:
		t.Fatal("the changed camera's old worker still runs")
	}
	_, err := h.mon.Camera("drop")
	require.ErrorIs(t, err, ErrCameraNotFound)
	h.waitState(t, "added", StateOnline, 10*time.Second)
	st := h.waitState(t, "change", StateOnline, 10*time.Second)
	require.Equal(t, "Changed camera", st.Name)
	k := mustStatus(t, h.mon, "keep")
	require.Equal(t, StateOnline, k.State)
	require.Equal(t, keepSince, k.Since, "the unchanged camera's session went on")
	require.Zero(t, k.Reconnects)
	ids := []string{}
	for _, s := range h.mon.Cameras() {
		ids = append(ids, s.ID)
	}
	require.Equal(t, []string{"keep", "change", "added"}, ids)
}

func TestMonitorSetCamerasRefusesInvalidAndChangesNothing(t *testing.T) {
	h := startMonitor(t, []CameraConfig{testCamera("a", "rtsp://"+closedPort(t)+"/a")})
	before := h.mon.set.Load()
	dup := testCamera("b", "rtsp://127.0.0.1:1/b")
	err := h.mon.SetCameras([]CameraConfig{dup, dup})
	require.Error(t, err)
	require.Same(t, before, h.mon.set.Load())
	h.mon.Close()
	require.Error(t, h.mon.SetCameras(nil), "after Close")
}

func mustStatus(t *testing.T, m *Monitor, id string) Status {
	t.Helper()
	st, err := m.Camera(id)
	require.NoError(t, err)
	return st
}
