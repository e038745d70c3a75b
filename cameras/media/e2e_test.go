package media

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
)

// TestWithMonitorAndSimulator drives the path a deployment uses: the RTSP simulator, the camera monitor
// handing its access units to Media, in real time; then snapshots, a clip and live view of what it buffered.
func TestWithMonitorAndSimulator(t *testing.T) {
	testenv.SkipShort(t)
	ff := testenv.LookPath(t, "ffmpeg")
	sim := simtest.Start(t, camerasim.Config{Cameras: 2, H265: []int{2}})

	m, _ := newTestMedia(t, func(c *Config) {
		c.FFmpegPath = ff
		c.Cameras = []CameraConfig{{ID: "cam1", PreSeconds: 1, PostSeconds: 1}, {ID: "cam2", PreSeconds: 1, PostSeconds: 1}}
	})
	mon, err := cameras.New(cameras.Config{Cameras: []cameras.CameraConfig{
		{ID: "cam1", URL: sim.URL(1), Transport: cameras.TransportTCP},
		{ID: "cam2", URL: sim.URL(2), Transport: cameras.TransportTCP},
	}}, cameras.Deps{Sink: m})
	require.NoError(t, err)
	require.NoError(t, mon.Start())
	t.Cleanup(mon.Close)

	require.Eventually(t, func() bool {
		a, _ := m.Ring("cam1")
		b, _ := m.Ring("cam2")
		return a.Seconds >= 1.5 && b.Seconds >= 1.5
	}, 15*time.Second, 20*time.Millisecond)

	for _, id := range []string{"cam1", "cam2"} {
		img, at := snapshotMade(t, m, id)
		pic, err := jpeg.Decode(bytes.NewReader(img))
		require.NoError(t, err, id)
		assert.Equal(t, 640, pic.Bounds().Dx(), id)
		assert.Equal(t, 360, pic.Bounds().Dy(), id)
		assert.False(t, at.IsZero())
	}

	clips := map[string]Clip{}
	for _, id := range []string{"cam1", "cam2"} {
		c, err := m.StartClip(id, "motion", time.Now())
		require.NoError(t, err)
		clips[id] = c
	}

	srv := liveServer(t, m)
	conn := dialLive(t, srv, "cam1")
	im, _ := readInit(t, conn)
	assert.Equal(t, `video/mp4; codecs="avc1.42c01e"`, im.MIME)
	var last uint64
	for i := range 12 {
		tr := readFragment(t, conn)
		if i > 0 {
			assert.Greater(t, tr.BaseTime, last)
		}
		last = tr.BaseTime
	}

	for id, c := range clips {
		var path string
		require.Eventually(t, func() bool {
			var err error
			_, path, err = m.Clip(id, c.ID)
			return err == nil
		}, 15*time.Second, 20*time.Millisecond, id)
		codec, dur := ffprobe(t, path)
		want := map[string]string{"cam1": "h264", "cam2": "hevc"}[id]
		assert.Equal(t, want, codec)
		assert.InDelta(t, 2, dur, gopSeconds+2.0/clipFPS, id)
	}
}

// snapshotMade asks for id's snapshot until one is made. A decode that runs out of SnapshotTimeout is the
// bound working, not a failure of the path under test: on a loaded machine one ffmpeg took over its 10 s
// (make stress, load 80), and the next call starts another.
func snapshotMade(t *testing.T, m *Media, id string) ([]byte, time.Time) {
	t.Helper()
	const attempts = 5
	for i := 1; ; i++ {
		img, at, err := m.Snapshot(context.Background(), id)
		if err == nil {
			return img, at
		}
		if !errors.Is(err, context.DeadlineExceeded) || i == attempts {
			t.Fatalf("%s: snapshot %d of %d: %v", id, i, attempts, err)
		}
	}
}
