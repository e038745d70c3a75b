package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/cameras/analyze"
	"citywatch/cameras/privacymask"
	"citywatch/config"
	"citywatch/retention"
)

// TestPrivacyWiring: a camera's privacy_masks reach media (masked) and the analysis, an unmasked camera stays
// unmasked, and the privacy section becomes the retention engine's settings built over the ward's store.
func TestPrivacyWiring(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	room, corridor := config.DefaultCamera(), config.DefaultCamera()
	room.ID, room.Site, room.URL = "room-101", "q1", "rtsp://127.0.0.1:1/none"
	room.PrivacyMasks = []string{"bed: 0,0 0.5,0 0.5,1 0,1"}
	corridor.ID, corridor.Site, corridor.URL = "corridor", "q1", "rtsp://127.0.0.1:1/none"
	cfg.Cameras = []config.CameraConfig{room, corridor}
	cfg.Privacy.Sites = map[string]config.PrivacySiteConfig{"q1": {RetentionAfterRelease: config.Duration(7 * 24 * time.Hour)}}
	require.NoError(t, cfg.Complete())
	a, err := New(cfg, Options{PasswordHashing: testHashing})
	require.NoError(t, err)
	defer a.closeStores()
	require.True(t, a.media.Masked("room-101"))
	require.False(t, a.media.Masked("corridor"))

	require.NotNil(t, a.retention, "built over the ward's store")
	require.Equal(t, 7*24*time.Hour, a.retention.AfterRelease("q1"))
	require.Equal(t, retention.DefaultAfterRelease, a.retention.AfterRelease("q2"))
}

func TestZonesBehindMask(t *testing.T) {
	left := privacymask.Mask{{{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}}}
	zones := []analyze.Zone{
		{Name: "bed", Polygon: [][2]float64{{0.1, 0.1}, {0.4, 0.1}, {0.4, 0.9}}},
		{Name: "door", Polygon: [][2]float64{{0.6, 0.1}, {0.9, 0.1}, {0.9, 0.9}}},
		{Name: "across", Polygon: [][2]float64{{0.3, 0.1}, {0.7, 0.1}, {0.7, 0.9}}},
	}
	require.Equal(t, []string{"bed"}, zonesBehindMask(zones, left))
	require.Nil(t, zonesBehindMask(zones, nil))
}
