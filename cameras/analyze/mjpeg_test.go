package analyze

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/internal/clock"
	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
)

// jpegFrame is a 320×240 grey JPEG with a white box at x (a moving object when x changes), or all black.
func jpegFrame(t testing.TB, x int, black bool) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for i := range 320 {
			v := uint8(90 + (i+y)%40)
			switch {
			case black:
				v = 0
			case i >= x && i < x+60 && y >= 100 && y < 160:
				v = 255
			}
			img.SetGray(i, y, color.Gray{Y: v})
		}
	}
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}))
	return b.Bytes()
}

var mjpegEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mjpegAU(n int, img []byte) cameras.AccessUnit {
	return cameras.AccessUnit{Codec: cameras.CodecMJPEG, NALUs: [][]byte{img}, Keyframe: true, Session: 1,
		PTS: int64(n) * 90000 / clipFPS, Time: mjpegEpoch.Add(time.Duration(n) * time.Second / clipFPS), Width: 320, Height: 240}
}

// TestMJPEGAnalysis: M-JPEG frames are decoded by ffmpeg and analysed like any other video: frames are
// counted, motion in a zone and a black picture are detected.
func TestMJPEGAnalysis(t *testing.T) {
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1", Zones: []Zone{zoneBand}, MotionThreshold: 0.05,
		TamperAfter: time.Second}}})
	still := jpegFrame(t, 0, false)
	n := 0
	feed := func(frames int, img func(i int) []byte) {
		for i := range frames {
			feedWait(t, h.a, "cam1", mjpegAU(n, img(i)))
			n++
		}
	}
	// Like a camera, the stream goes on: fed back to back, ffmpeg holds a few frames (its M-JPEG parser ends
	// a frame where the next one starts).
	deadline := time.Now().Add(20 * time.Second)
	for h.a.Status("cam1").Frames < 2 {
		require.True(t, time.Now().Before(deadline), "no frame analysed: %+v", h.a.Status("cam1"))
		feed(clipFPS/2, func(int) []byte { return still })
	}
	st := h.a.Status("cam1")
	require.True(t, st.Available)
	require.Equal(t, StateAnalysing, st.State)
	require.Empty(t, st.Reason)

	moving := make([][]byte, 8)
	for i := range moving {
		moving[i] = jpegFrame(t, 20+30*i, false)
	}
	feed(4*clipFPS, func(i int) []byte { return moving[i%len(moving)] })
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindMotion, "band", true); return ok }, 10*time.Second, 5*time.Millisecond)

	black := jpegFrame(t, 0, true)
	feed(4*clipFPS, func(int) []byte { return black })
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperBlack, true); return ok }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, h.a.Status("cam1").Restarts)
}

// TestStatusNeverAvailableWithoutFrames: before a frame is analysed the status says what it waits for,
// never available.
func TestStatusNeverAvailableWithoutFrames(t *testing.T) {
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1"}}})
	st := h.a.Status("cam1")
	require.False(t, st.Available)
	require.Zero(t, st.Frames)
	require.Equal(t, StateWaiting, st.State)
	require.Contains(t, st.Reason, "no video received")

	// A camera that streams something undecodable: access units arrive, no frame ever comes out.
	for n := range 3 * clipFPS {
		au := mjpegAU(n, []byte{0xff, 0xd8, 0xff, 0xdb, 1, 2, 3, 0xff, 0xd9})
		h.a.OnAccessUnit("cam1", au)
	}
	require.Eventually(t, func() bool { return h.a.Status("cam1").State != StateWaiting }, 10*time.Second, 5*time.Millisecond)
	st = h.a.Status("cam1")
	require.False(t, st.Available, "%+v", st)
	require.Zero(t, st.Frames)
	require.NotEmpty(t, st.Reason)
}

// TestUnsupportedCodecIsUnavailable: access units of a codec ffmpeg is not fed are dropped and counted, and
// the status names the codec.
func TestUnsupportedCodecIsUnavailable(t *testing.T) {
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1"}}})
	feedWait(t, h.a, "cam1", cameras.AccessUnit{Codec: "VP8", NALUs: [][]byte{{1, 2, 3}}, Keyframe: true, Session: 1})
	require.Eventually(t, func() bool { return h.a.Status("cam1").Dropped > 0 }, 10*time.Second, 5*time.Millisecond)
	st := h.a.Status("cam1")
	require.False(t, st.Available)
	require.Equal(t, StateUnavailable, st.State)
	require.Contains(t, st.Reason, "video codec VP8 cannot be analysed")
}

// TestMJPEGWithGStreamer: a real RTP/JPEG camera (GStreamer's RTSP server) through the monitor into the
// Analyzer: frames are analysed.
func TestMJPEGWithGStreamer(t *testing.T) {
	testenv.SkipShort(t)
	gst := testenv.GstRTSP(t, "mjpeg", testenv.GstMJPEGLaunch)
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1", Zones: []Zone{zoneBand}}}})
	mon, err := cameras.New(cameras.Config{Cameras: []cameras.CameraConfig{
		{ID: "cam1", URL: gst.URL, Transport: cameras.TransportTCP},
	}}, cameras.Deps{Sink: h.a})
	require.NoError(t, err)
	require.NoError(t, mon.Start())
	t.Cleanup(mon.Close)
	require.Eventually(t, func() bool { return h.a.Status("cam1").Frames >= 4 }, 15*time.Second, 20*time.Millisecond,
		"status %+v", h.a.Status("cam1"))
	st := h.a.Status("cam1")
	require.True(t, st.Available)
	require.Equal(t, StateAnalysing, st.State)
	// The rate is measured on arrival times, so it is the camera's rate as delivered: never above AnalysisFPS
	// (the camera sends 10 fps), and below it when a starved machine delivers fewer frames (0.62 fps seen
	// under make stress). That the pacing itself feeds 2 of 10 fps is TestMJPEGThinningRate's, on exact times.
	require.Greater(t, st.FPS, 0.0)
	require.LessOrEqual(t, st.FPS, 2.6)
}

// TestMJPEGSimulatorMotionAndBlack: the simulator's M-JPEG camera through the monitor: its motion and black
// faults are detected from the decoded pictures.
func TestMJPEGSimulatorMotionAndBlack(t *testing.T) {
	testenv.SkipShort(t)
	sim := simtest.Start(t, camerasim.Config{Cameras: 1, MJPEG: []int{1}})
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1", Zones: []Zone{zoneBand}, MotionThreshold: 0.05,
		TamperAfter: time.Second}}})
	mon, err := cameras.New(cameras.Config{Cameras: []cameras.CameraConfig{
		{ID: "cam1", URL: sim.URL(1), Transport: cameras.TransportTCP},
	}}, cameras.Deps{Sink: h.a})
	require.NoError(t, err)
	require.NoError(t, mon.Start())
	t.Cleanup(mon.Close)
	waitFrames(t, h.a, "cam1", 4)
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultMotion}))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindMotion, "band", true); return ok }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultBlack}))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperBlack, true); return ok }, 10*time.Second, 20*time.Millisecond)
}

// TestMJPEGOnlyAnalysedFramesAreDecoded: every M-JPEG frame is a keyframe, so frames that would not be
// analysed are not fed to ffmpeg: a 12 fps camera analysed at 2 fps costs 2 decodes per second, not 12.
func TestMJPEGOnlyAnalysedFramesAreDecoded(t *testing.T) {
	a := startCam1(t)
	img := jpegFrame(t, 0, false)
	n := 0
	deadline := time.Now().Add(20 * time.Second)
	for a.Status("cam1").Frames < 10 { // a stream that goes on, as from a camera, fed faster than real time
		require.True(t, time.Now().Before(deadline), "frames not analysed: %+v", a.Status("cam1"))
		feedWait(t, a, "cam1", mjpegAU(n, img))
		n++
	}
	seconds := float64(n) / clipFPS
	decoded := testutil.ToFloat64(a.metrics.decoded)
	require.LessOrEqual(t, decoded, 2*seconds+1, "decoded frames of %d fed at %d fps", n, clipFPS)
	require.GreaterOrEqual(t, decoded, 10.0)
	require.Zero(t, a.Status("cam1").Dropped, "thinning is not dropping")
}

// TestStatusNotAvailableWhenFramesStop: a camera whose frames stopped (offline, stalled) is not shown as
// being analysed from its last frame on: after DecoderStallTimeout without an analysed frame it is waiting.
func TestStatusNotAvailableWhenFramesStop(t *testing.T) {
	clk := clock.NewFake(time.Now())
	a, err := New(Config{FFmpegPath: testenv.LookPath(t, "ffmpeg"), Cameras: []CameraConfig{{ID: "cam1"}}},
		Deps{Clock: clk})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	t.Cleanup(a.Close)
	img := jpegFrame(t, 0, false)
	n := 0
	feedUntil := func(cond func(Status) bool) {
		deadline := time.Now().Add(20 * time.Second)
		for !cond(a.Status("cam1")) {
			require.True(t, time.Now().Before(deadline), "status %+v", a.Status("cam1"))
			feedWait(t, a, "cam1", mjpegAU(n, img))
			n++
			// Time passes as frames arrive: a decoder restarted after the stall waits out its backoff on
			// this clock, which a frozen clock would never end.
			clk.Advance(100 * time.Millisecond)
		}
	}
	feedUntil(func(s Status) bool { return s.Frames > 0 })
	require.True(t, a.Status("cam1").Available)

	clk.Advance(11 * time.Second) // past the default DecoderStallTimeout of 10 s
	st := a.Status("cam1")
	require.False(t, st.Available)
	require.Equal(t, StateWaiting, st.State)
	require.Contains(t, st.Reason, "no frame analysed for")

	// Frames again: analysed again. (Not "Frames grew": a frame the stalled decoder still had in flight may
	// be counted while its replacement starts, and that is not yet a camera being analysed.)
	feedUntil(func(s Status) bool { return s.Available })
	st = a.Status("cam1")
	require.True(t, st.Available)
	require.Equal(t, StateAnalysing, st.State)
}
