package media

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSetCamerasKeepsUnchangedAndOpensAdded(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	cam1 := m.camera("cam1")
	require.NotNil(t, cam1)

	require.NoError(t, m.SetCameras([]CameraConfig{{ID: "cam1", Site: "s1"}, {ID: "cam2", Site: "s2"}}))
	require.Same(t, cam1, m.camera("cam1"), "an unchanged camera keeps its ring and viewers")
	require.NotNil(t, m.camera("cam2"))
	_, err := os.Stat(filepath.Join(m.clipsDir, "cam2"))
	require.NoError(t, err, "an added camera gets its clip directory")
	require.NotNil(t, m.Clips("cam2"))

	require.NoError(t, m.SetCameras([]CameraConfig{{ID: "cam2", Site: "s2", PreSeconds: 3}}))
	require.Nil(t, m.camera("cam1"), "a removed camera is gone")
	require.Nil(t, m.Clips("cam1"))
	require.NotNil(t, m.camera("cam2"))

	require.Error(t, m.SetCameras([]CameraConfig{{ID: "../x"}}))
	require.NotNil(t, m.camera("cam2"), "an invalid list changes nothing")
}
