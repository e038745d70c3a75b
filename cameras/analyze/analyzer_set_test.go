package analyze

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSetCamerasKeepsUnchangedDecoders(t *testing.T) {
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "keep"}, {ID: "drop"}}})
	keep, drop := h.a.camera("keep"), h.a.camera("drop")
	require.NoError(t, h.a.SetCameras([]CameraConfig{{ID: "keep"}, {ID: "new", Site: "s"}}))
	require.Same(t, keep, h.a.camera("keep"))
	require.Nil(t, h.a.camera("drop"))
	require.NotNil(t, h.a.camera("new"))
	<-drop.worker.Done() // stopped before SetCameras returned
	select {
	case <-keep.worker.Done():
		t.Fatal("the unchanged camera's worker stopped")
	default:
	}
	require.True(t, h.a.camera("new").worker.Started(), "the added camera's worker runs")
	require.Equal(t, StateUnavailable, h.a.Status("drop").State)
	require.Error(t, h.a.SetCameras([]CameraConfig{{ID: "a"}, {ID: "a"}}))
	require.NotNil(t, h.a.camera("new"), "an invalid list changes nothing")
}
