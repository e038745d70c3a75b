package media

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/cameras/privacymask"
	"citywatch/cameras/privacymask/masktest"
	"citywatch/internal/testenv"
)

// testMask covers the red, green, yellow and blue bars and the moving band of the test clips.
var testMask = privacymask.Mask{{{0.05, 0.3}, {0.6, 0.25}, {0.55, 0.9}, {0.1, 0.85}}}

// newMaskedMedia has camera "cam1" unmasked and "cam2" with testMask.
func newMaskedMedia(t *testing.T, mod func(*Config)) *Media {
	t.Helper()
	ff := testenv.LookPath(t, "ffmpeg")
	m, _ := newTestMedia(t, func(c *Config) {
		c.FFmpegPath = ff
		c.Cameras = []CameraConfig{{ID: "cam1", Site: "s1"}, {ID: "cam2", Site: "s1", PrivacyMask: testMask}}
		if mod != nil {
			mod(c)
		}
	})
	return m
}

// TestPrivacyMaskSnapshot: the masked camera's snapshot is black inside the mask (every pixel), where the
// same picture of the unmasked camera is bright; outside the mask it is the picture.
func TestPrivacyMaskSnapshot(t *testing.T) {
	for _, tc := range []struct{ file, codec string }{{"clip.h264", cameras.CodecH264}, {"clip.h265", cameras.CodecH265}} {
		t.Run(tc.codec, func(t *testing.T) {
			m := newMaskedMedia(t, nil)
			clip := loadClip(t, tc.file, tc.codec)
			p1, p2 := newPlayer(clip), newPlayer(clip)
			p1.feed(m, "cam1", clipFPS+1)
			p2.feed(m, "cam2", clipFPS+1)
			idx := masktest.Interior(t, testMask, clip.Width, clip.Height)

			plain, _, err := m.Snapshot(context.Background(), "cam1")
			require.NoError(t, err)
			masked, _, err := m.Snapshot(context.Background(), "cam2")
			require.NoError(t, err)
			pi, mi := mustDecode(t, plain), mustDecode(t, masked)
			require.Equal(t, pi.Bounds(), mi.Bounds())
			assert.Less(t, masktest.DarkShare(masktest.RGB24(pi), idx), 0.2, "the unmasked snapshot shows the masked area")
			assert.Equal(t, 1.0, masktest.DarkShare(masktest.RGB24(mi), idx), "a pixel inside the mask left the server")
			// Outside the mask (the magenta and cyan bars on the right) the picture is kept.
			right := masktest.Interior(t, privacymask.Mask{{{0.7, 0.3}, {0.95, 0.3}, {0.95, 0.6}, {0.7, 0.6}}}, clip.Width, clip.Height)
			assert.Less(t, masktest.DarkShare(masktest.RGB24(mi), right), 0.05)

			// The cache serves the masked picture again.
			again, _, err := m.Snapshot(context.Background(), "cam2")
			require.NoError(t, err)
			assert.Equal(t, masked, again)
			assert.Equal(t, uint64(1), maskObservations(t, m, maskSnapshot))
			assert.True(t, m.Masked("cam2"))
			assert.False(t, m.Masked("cam1"))
			assert.True(t, m.Masked("nope"), "an unknown camera fails closed")
		})
	}
}

// TestPrivacyMaskMJPEGSnapshot: an M-JPEG frame, served as is when unmasked, is repainted when masked.
func TestPrivacyMaskMJPEGSnapshot(t *testing.T) {
	m := newMaskedMedia(t, nil)
	au := mjpegAU(t, 20) // grey level 200
	m.OnAccessUnit("cam1", au)
	m.OnAccessUnit("cam2", au)
	plain, _, err := m.Snapshot(context.Background(), "cam1")
	require.NoError(t, err)
	require.Equal(t, au.NALUs[0], plain)
	masked, _, err := m.Snapshot(context.Background(), "cam2")
	require.NoError(t, err)
	img := mustDecode(t, masked)
	bits := testMask.Bitmap(64, 48)
	for i, on := range bits {
		r, g, b, _ := img.At(i%64, i/64).RGBA()
		if on && maskedInside(bits, i, 64) {
			require.LessOrEqual(t, max(r, g, b)>>8, uint32(masktest.Dark), "pixel %d", i)
		}
	}
}

// maskedInside reports whether pixel i and its 8 neighbours are covered.
func maskedInside(bits []bool, i, w int) bool {
	for _, d := range []int{-w - 1, -w, -w + 1, -1, 0, 1, w - 1, w, w + 1} {
		if j := i + d; j < 0 || j >= len(bits) || !bits[j] {
			return false
		}
	}
	return true
}

// TestPrivacyMaskSnapshotBadFrame: a camera frame that cannot be repainted is not served.
func TestPrivacyMaskSnapshotBadFrame(t *testing.T) {
	m := newMaskedMedia(t, nil)
	au := mjpegAU(t, 1)
	au.NALUs = [][]byte{{0xff, 0xd8, 0xff, 0xd9}}
	m.OnAccessUnit("cam2", au)
	_, _, err := m.Snapshot(context.Background(), "cam2")
	require.ErrorContains(t, err, "privacy mask")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.priv.failures.WithLabelValues(maskSnapshot)))
}

// decodeFrames decodes every frame of a video file to RGB24.
func decodeFrames(t *testing.T, path string, w, h int) [][]byte {
	t.Helper()
	ff := testenv.LookPath(t, "ffmpeg")
	out, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-i", path,
		"-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").Output()
	require.NoError(t, err)
	size := w * h * 3
	require.Zero(t, len(out)%size, "decoded %d bytes, not whole %dx%d frames", len(out), w, h)
	var frames [][]byte
	for len(out) > 0 {
		frames = append(frames, out[:size])
		out = out[size:]
	}
	return frames
}

// TestPrivacyMaskClip: every frame of the masked camera's clip (the file served for playback and download)
// is black inside the mask, and no unmasked recording is left next to it.
func TestPrivacyMaskClip(t *testing.T) {
	m := newMaskedMedia(t, func(c *Config) { c.PreSeconds, c.PostSeconds = 1, 2 })
	clip, c := recordCam2(t, m, 4*clipFPS)
	var got Clip
	var path string
	var err error
	require.Eventually(t, func() bool {
		got, path, err = m.Clip("cam2", c.ID)
		return err == nil
	}, 60*time.Second, 20*time.Millisecond)
	assert.Equal(t, cameras.CodecH264, got.Codec)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), got.SizeBytes)

	frames := decodeFrames(t, path, clip.Width, clip.Height)
	require.GreaterOrEqual(t, len(frames), 2*clipFPS)
	idx := masktest.Interior(t, testMask, clip.Width, clip.Height)
	for i, f := range frames {
		require.Equal(t, 1.0, masktest.DarkShare(f, idx), "frame %d: a pixel inside the mask left the server", i)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{c.ID + ".mp4", c.ID + ".json"}, names, "an unmasked recording was left")
	assert.Equal(t, uint64(1), maskObservations(t, m, maskClip))
}

// recordCam2 feeds m's cam2 two seconds of the H.264 clip, starts a motion clip there and feeds it after more
// frames.
func recordCam2(t *testing.T, m *Media, after int) (*testClip, Clip) {
	t.Helper()
	clip := loadClip(t, "clip.h264", cameras.CodecH264)
	p := newPlayer(clip)
	p.feed(m, "cam2", 2*clipFPS)
	c, err := m.StartClip("cam2", "motion", p.at())
	require.NoError(t, err)
	p.feed(m, "cam2", after)
	return clip, c
}

// TestPrivacyMaskClipWithoutFFmpeg: without ffmpeg a masked camera's clip cannot be masked, so it is not
// kept (fails closed); the unmasked camera's clip is written as before.
func TestPrivacyMaskClipWithoutFFmpeg(t *testing.T) {
	m := newMaskedMedia(t, func(c *Config) { c.FFmpegPath = "/nonexistent/ffmpeg"; c.PreSeconds, c.PostSeconds = 1, 1 })
	recordCam2(t, m, 3*clipFPS)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(m.priv.failures.WithLabelValues(maskClip)) == 1
	}, 20*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(m.Clips("cam2")) == 0 }, 5*time.Second, 10*time.Millisecond)
	entries, err := os.ReadDir(filepath.Join(m.clipsDir, "cam2"))
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// TestPurgeClips deletes exactly the clips overlapping the period, files included.
func TestPurgeClips(t *testing.T) {
	m, _ := newTestMedia(t, func(c *Config) { c.PreSeconds, c.PostSeconds = 1, 1 })
	clip := loadClip(t, "clip.h264", cameras.CodecH264)
	p := newPlayer(clip)
	var ids []string
	var ends []time.Time
	for range 3 {
		p.feed(m, "cam1", 2*clipFPS)
		c, err := m.StartClip("cam1", "motion", p.at())
		require.NoError(t, err)
		p.feed(m, "cam1", 3*clipFPS)
		got, _ := waitClip(t, m, c.ID)
		ids = append(ids, got.ID)
		ends = append(ends, got.End)
	}
	// The period from the end of the first clip to just after the second one's end.
	gone, err := m.PurgeClips("cam1", ends[0].Add(time.Millisecond), ends[1])
	require.NoError(t, err)
	require.Len(t, gone, 1)
	assert.Equal(t, ids[1], gone[0].ID)
	var left []string
	for _, c := range m.Clips("cam1") {
		left = append(left, c.ID)
	}
	assert.ElementsMatch(t, []string{ids[0], ids[2]}, left)
	_, err = os.Stat(filepath.Join(m.clipsDir, "cam1", ids[1]+".mp4"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(m.clipsDir, "cam1", ids[1]+".json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = m.PurgeClips("nope", time.Time{}, time.Now())
	assert.ErrorIs(t, err, ErrCameraNotFound)
}

// maskObservations is how many times a mask of kind was burned.
func maskObservations(t *testing.T, m *Media, kind string) uint64 {
	t.Helper()
	var d dto.Metric
	require.NoError(t, m.priv.duration.WithLabelValues(kind).(prometheus.Histogram).Write(&d))
	return d.GetHistogram().GetSampleCount()
}

// TestPrivacyMaskLiveRefused: the masked camera's live view sends no video to a request without the unmasked
// grant (403, or a WebSocket error message and close 1008); with the grant the raw stream starts.
func TestPrivacyMaskLiveRefused(t *testing.T) {
	m := newMaskedMedia(t, nil)
	p := newPlayer(loadClip(t, "clip.h264", cameras.CodecH264))
	p.feed(m, "cam2", clipFPS+1)
	var grant atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if grant.Load() {
			r = r.WithContext(AllowUnmasked(r.Context()))
		}
		m.ServeLive(w, r, "cam2")
	}))
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, string(b), "video_unmasked")

	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	resp.Body.Close()
	defer conn.Close()
	typ, b := readMsg(t, conn)
	require.Equal(t, websocket.TextMessage, typ)
	assert.Contains(t, string(b), `"type":"error"`)
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "no video may follow the refusal")
	assert.Equal(t, websocket.ClosePolicyViolation, ce.Code)

	grant.Store(true)
	conn2, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	resp.Body.Close()
	defer conn2.Close()
	im, _ := readInit(t, conn2)
	assert.Contains(t, im.MIME, "avc1")
}

// TestPurgeClipsOfRemovedCamera: a camera removed from the configuration leaves its clips on disk, outside
// age-based retention; purging by purpose still finds and deletes them. Camera ids cannot leave the clips
// directory.
func TestPurgeClipsOfRemovedCamera(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	dir := filepath.Join(m.clipsDir, "gone")
	require.NoError(t, os.MkdirAll(dir, 0o750))
	in, out := "20260101T120000Z-0000000a", "20260301T120000Z-0000000b"
	for id, start := range map[string]time.Time{in: epoch, out: epoch.Add(60 * 24 * time.Hour)} {
		c := Clip{ID: id, Camera: "gone", Start: start, End: start.Add(10 * time.Second)}
		require.NoError(t, writeSidecar(filepath.Join(dir, id+".json"), &c))
		require.NoError(t, os.WriteFile(filepath.Join(dir, id+".mp4"), []byte("video"), 0o640))
	}
	gone, err := m.PurgeClips("gone", epoch.Add(-time.Hour), epoch.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, gone, 1)
	assert.Equal(t, in, gone[0].ID)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{out + ".json", out + ".mp4"}, names)
	for _, bad := range []string{"..", "../cam1", "nope"} {
		_, err = m.PurgeClips(bad, time.Time{}, epoch.Add(time.Hour))
		assert.ErrorIs(t, err, ErrCameraNotFound, bad)
	}
}

// TestPrivacyMaskAppliedToOlderClips: a mask set after clips were recorded (a restart with the new
// configuration) is burned into them before they are served again; until then they are refused.
func TestPrivacyMaskAppliedToOlderClips(t *testing.T) {
	ff := testenv.LookPath(t, "ffmpeg")
	dir := t.TempDir()
	cfg := Config{DataDir: dir, FFmpegPath: ff, PreSeconds: 1, PostSeconds: 2, Retention: 10 * 365 * 24 * time.Hour,
		Cameras: []CameraConfig{{ID: "cam1", Site: "s1"}}} // the clip times are of 2026-01-01
	m, err := New(cfg, Deps{})
	require.NoError(t, err)
	require.NoError(t, m.Start())
	clip := loadClip(t, "clip.h264", cameras.CodecH264)
	p := newPlayer(clip)
	p.feed(m, "cam1", 2*clipFPS)
	c, err := m.StartClip("cam1", "motion", p.at())
	require.NoError(t, err)
	p.feed(m, "cam1", 4*clipFPS)
	_, path := waitClip(t, m, c.ID)
	idx := masktest.Interior(t, testMask, clip.Width, clip.Height)
	require.Less(t, masktest.DarkShare(decodeFrames(t, path, clip.Width, clip.Height)[0], idx), 0.2, "recorded unmasked")
	m.Close()

	cfg.Cameras[0].PrivacyMask = testMask
	m2, err := New(cfg, Deps{})
	require.NoError(t, err)
	require.NoError(t, m2.Start())
	t.Cleanup(m2.Close)
	var got Clip
	var unexpected atomic.Value
	require.Eventually(t, func() bool {
		got, path, err = m2.Clip("cam1", c.ID)
		if err != nil && !errors.Is(err, ErrClipInProgress) {
			unexpected.Store(err)
		}
		return err == nil
	}, 60*time.Second, 20*time.Millisecond, "%v", m2.Clips("cam1"))
	require.Nil(t, unexpected.Load(), "refused other than as being masked")
	assert.Equal(t, testMask.Fingerprint(), got.PrivacyMask)
	assert.Equal(t, cameras.CodecH264, got.Codec)
	for i, f := range decodeFrames(t, path, clip.Width, clip.Height) {
		require.Equal(t, 1.0, masktest.DarkShare(f, idx), "frame %d", i)
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), got.SizeBytes)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary file left")
}
