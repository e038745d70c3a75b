package analyze

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/internal/clock"
	"citywatch/internal/testenv"
	"citywatch/store"
	"citywatch/store/storetest"
)

// The motion clip's box crosses the band y 100..260 of 640×360; testsrc2 itself animates most of the
// picture, but hardly the bottom of its fourth colour bar.
var (
	zoneBand  = Zone{Name: "band", Polygon: [][2]float64{{0, 0.3}, {1, 0.3}, {1, 0.7}, {0, 0.7}}}
	zoneFloor = Zone{Name: "floor", Polygon: [][2]float64{{0.5, 0.8}, {0.75, 0.8}, {0.75, 1}, {0.5, 1}}}
)

func TestMotionInZone(t *testing.T) {
	cc := CameraConfig{ID: "cam1", Site: "siteA", Zones: []Zone{zoneBand, zoneFloor}, MotionThreshold: 0.1}
	h := newHarness(t, Config{Cameras: []CameraConfig{cc}})
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	motion := loadClip(t, clipPath("motion.h264"), cameras.CodecH264)
	p := newPlayer()

	p.play(t, h.a, "cam1", normal, 1)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	_, started := h.ev.find(KindMotion, "band", true)
	require.False(t, started, "the normal scene must not start motion in the band: %+v", h.ev.All())

	p.play(t, h.a, "cam1", motion, 2)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindMotion, "band", true); return ok }, 5*time.Second, 5*time.Millisecond)
	e, _ := h.ev.find(KindMotion, "band", true)
	require.Equal(t, "cam1", e.CameraID)
	require.Equal(t, "siteA", e.Site)
	require.Greater(t, e.Score, 0.1)
	_, floor := h.ev.find(KindMotion, "floor", true)
	require.False(t, floor, "no motion outside the box's band: %+v", h.ev.All())

	p.play(t, h.a, "cam1", normal, 2) // the box is gone: the event ends after MotionOffFrames
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindMotion, "band", false); return ok }, 5*time.Second, 5*time.Millisecond)

	band := h.app.Series(MetricMotionScore, "zone", "band")
	require.NotEmpty(t, band)
	require.Equal(t, "camera_motion_score{camera=\"cam1\", site=\"siteA\", zone=\"band\"}", store.LabelsString(band[0].Name, band[0].Labels))
	st := h.a.Status("cam1")
	require.True(t, st.Available)
	require.InDelta(t, 2, st.FPS, 0.2)
	require.Contains(t, st.Motion, "floor")
	require.Equal(t, map[string]bool{TamperBlack: false, TamperCovered: false, TamperFrozen: false, TamperMoved: false}, st.Tamper)
}

func TestBlackTamper(t *testing.T) {
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1", TamperAfter: 2 * time.Second, FrozenAfter: time.Second}}})
	black := loadClip(t, clipPath("black.h264"), cameras.CodecH264)
	p := newPlayer()
	p.play(t, h.a, "cam1", black, 2)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperBlack, true); return ok }, 5*time.Second, 5*time.Millisecond)
	st := h.a.Status("cam1")
	require.True(t, st.Tamper[TamperBlack])
	require.False(t, st.Tamper[TamperCovered], "black takes precedence over covered")
	require.False(t, st.Tamper[TamperFrozen], "a black picture is black, not frozen")
	require.Less(t, st.Luma, 0.1)
	s := h.app.Series(MetricTamper, "kind", TamperBlack)
	require.NotEmpty(t, s)
	require.Equal(t, 1.0, s[len(s)-1].V)
}

func TestFrozenTamper(t *testing.T) {
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1", FrozenAfter: 3 * time.Second, Feed: FeedAll}}})
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	p := newPlayer()
	p.play(t, h.a, "cam1", normal, 1)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	_, frozen := h.ev.find(KindTamper, TamperFrozen, true)
	require.False(t, frozen, "the normal scene is not frozen")

	// A frozen encoder: the same keyframe again and again at the normal rate (camerasim's "frozen" fault).
	frozenStart := p.start.Add(p.elapsed())
	for range 5 * clipFPS {
		feedWait(t, h.a, "cam1", p.next(normal, 0))
	}
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperFrozen, true); return ok }, 5*time.Second, 5*time.Millisecond)
	e, _ := h.ev.find(KindTamper, TamperFrozen, true)
	require.GreaterOrEqual(t, e.Time.Sub(frozenStart), 3*time.Second, "frozen only after FrozenAfter of stream time")

	p.play(t, h.a, "cam1", normal, 1)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperFrozen, false); return ok }, 5*time.Second, 5*time.Millisecond)
}

// encodeVariant re-encodes clip.h264 through an ffmpeg filter into dir, like gen-clip.sh does.
func encodeVariant(t *testing.T, ffmpeg, dir, name, vf string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", clipPath("clip.h264"),
		"-vf", vf, "-an", "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-threads", "1",
		"-g", "12", "-keyint_min", "12", "-sc_threshold", "0", "-bf", "0", "-crf", "32",
		"-x264-params", "repeat-headers=1:aud=1", "-f", "h264", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

func TestMovedTamper(t *testing.T) {
	ffmpeg := testenv.LookPath(t, "ffmpeg")
	shifted := encodeVariant(t, ffmpeg, t.TempDir(), "shifted.h264", "crop=480:270:140:70,scale=640:360")
	cc := CameraConfig{ID: "cam1", LearnFrames: 8, MovedAfter: 2 * time.Second}
	h := newHarness(t, Config{Cameras: []CameraConfig{cc}})
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	motion := loadClip(t, clipPath("motion.h264"), cameras.CodecH264)
	moved := loadClip(t, shifted, cameras.CodecH264)
	p := newPlayer()

	p.play(t, h.a, "cam1", normal, 2) // learn
	// Motion of a large box in one band is not a moved camera.
	p.play(t, h.a, "cam1", motion, 2)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	_, ok := h.ev.find(KindTamper, TamperMoved, true)
	require.False(t, ok, "motion in a band must not look like a moved camera: %+v", h.a.Status("cam1"))
	require.Less(t, h.a.Status("cam1").MovedScore, 0.6)

	p.play(t, h.a, "cam1", moved, 2)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperMoved, true); return ok }, 5*time.Second, 5*time.Millisecond)
	require.True(t, h.a.Status("cam1").Tamper[TamperMoved])

	p.play(t, h.a, "cam1", normal, 3) // re-aimed: clears after TamperAfter (5s)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperMoved, false); return ok }, 5*time.Second, 5*time.Millisecond)
}

func TestCoveredTamper(t *testing.T) {
	ffmpeg := testenv.LookPath(t, "ffmpeg")
	// A hand or a bag over the lens: a flat grey picture with a little noise.
	covered := encodeVariant(t, ffmpeg, t.TempDir(), "covered.h264", "eq=contrast=0.05")
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1", TamperAfter: time.Second}}})
	clip := loadClip(t, covered, cameras.CodecH264)
	p := newPlayer()
	p.play(t, h.a, "cam1", clip, 1)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	require.Eventually(t, func() bool { _, ok := h.ev.find(KindTamper, TamperCovered, true); return ok }, 5*time.Second, 5*time.Millisecond,
		"status %+v", h.a.Status("cam1"))
	require.False(t, h.a.Status("cam1").Tamper[TamperBlack])
}

func TestH265(t *testing.T) {
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1"}}})
	clip := loadClip(t, clipPath("clip.h265"), cameras.CodecH265)
	p := newPlayer()
	p.play(t, h.a, "cam1", clip, 2)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	st := h.a.Status("cam1")
	require.GreaterOrEqual(t, st.Frames, uint64(7))
	require.Zero(t, st.Restarts)
}

func TestSessionAndResolutionChangeRestartDecoder(t *testing.T) {
	ffmpeg := testenv.LookPath(t, "ffmpeg")
	small := encodeVariant(t, ffmpeg, t.TempDir(), "small.h264", "scale=320:240")
	reg := prometheus.NewRegistry()
	h := &harness{ev: &eventLog{}, app: &storetest.Appender{}}
	a, err := New(Config{FFmpegPath: ffmpeg, Cameras: []CameraConfig{{ID: "cam1"}}}, Deps{Appender: h.app, Events: h.ev.Add, Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	defer a.Close()
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	smallClip := loadClip(t, small, cameras.CodecH264)
	p := newPlayer()
	p.play(t, a, "cam1", normal, 1)
	waitUntil(t, a, "cam1", p.lastAnalysable(2))

	p.session++ // the monitor reconnected: PTS restart in a new session
	p.n, p.start = 0, p.start.Add(p.elapsed()+time.Second)
	p.play(t, a, "cam1", normal, 1)
	waitUntil(t, a, "cam1", p.lastAnalysable(2))
	require.Equal(t, 1.0, testutil.ToFloat64(a.metrics.restarts.WithLabelValues(restartSession)))

	p.play(t, a, "cam1", smallClip, 1)
	waitUntil(t, a, "cam1", p.lastAnalysable(2))
	require.Equal(t, 1.0, testutil.ToFloat64(a.metrics.restarts.WithLabelValues(restartResolution)))
	require.Equal(t, uint64(3*8), uint64(testutil.ToFloat64(a.metrics.frames.WithLabelValues("cam1"))))
	_, ok := h.ev.find(KindTamper, TamperMoved, true)
	require.False(t, ok)
}

func TestNoFFmpegIsUnavailable(t *testing.T) {
	a, err := New(Config{FFmpegPath: filepath.Join(t.TempDir(), "no-ffmpeg"), Cameras: []CameraConfig{{ID: "cam1"}}}, Deps{})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	defer a.Close()
	st := a.Status("cam1")
	require.False(t, st.Available)
	require.Contains(t, st.Reason, "ffmpeg not found")
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	p := newPlayer()
	for i := range normal.AUs {
		a.OnAccessUnit("cam1", p.next(normal, i)) // a no-op, never blocks
	}
	require.Empty(t, a.camera("cam1").queue)
	require.False(t, a.Status("unknown").Available)
}

func TestNoFFmpegOnPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	a, err := New(Config{Cameras: []CameraConfig{{ID: "cam1"}}}, Deps{})
	require.NoError(t, err)
	require.Equal(t, "ffmpeg not found on PATH", a.Status("cam1").Reason)
	a.Close()
	a.Close()
}

// TestGarbageRestartsDecoder: a decoder fed garbage produces no frame and is restarted as stalled, and a good
// stream afterwards is decoded again. Stalls are judged on a fake clock, and the stall timeout is the default:
// with 1 s of real time (this test's before) a loaded machine's fresh ffmpeg neither decoded its first frame nor
// read its input in time (the write deadline is an OS one, on the real clock), so each was killed before it
// could (make stress: 25 restarts in 30 s, no frame).
func TestGarbageRestartsDecoder(t *testing.T) {
	reg := prometheus.NewRegistry()
	ffmpeg := testenv.LookPath(t, "ffmpeg")
	clk := clock.NewFake(time.Now())
	const stall, restartMax = 10 * time.Second, 50 * time.Millisecond
	a, err := New(Config{FFmpegPath: ffmpeg, RestartMin: 10 * time.Millisecond, RestartMax: restartMax,
		DecoderStallTimeout: stall, Cameras: []CameraConfig{{ID: "cam1"}}}, Deps{Registerer: reg, Clock: clk})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	defer a.Close()
	rnd := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // test data
	p := newPlayer()
	garbage := func() cameras.AccessUnit {
		n := make([]byte, 1+rnd.IntN(3000))
		for i := range n {
			n[i] = byte(rnd.Uint32())
		}
		au := cameras.AccessUnit{Codec: cameras.CodecH264, NALUs: [][]byte{n, {}, {0x65}}, PTS: p.n * 7500,
			Keyframe: rnd.IntN(4) == 0, Time: p.start.Add(p.elapsed()), Session: 1, SPS: n[:min(len(n), 8)]}
		p.n++
		return au
	}
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() string {
		for range 50 {
			a.OnAccessUnit("cam1", garbage())
		}
		clk.Advance(2 * stall) // no frame for longer than the stall timeout, and past any restart backoff
		if st := a.Status("cam1"); st.Restarts < 2 {
			return fmt.Sprintf("fewer than 2 restarts; status %+v", st)
		}
		return ""
	})
	require.NotEmpty(t, a.Status("cam1").Reason)

	// It recovers with a good stream. The clock moves only past the backoff of a decoder that ended, never far
	// enough for a stall.
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	restarts := a.Status("cam1").Restarts
	clk.Advance(restartMax)
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() string {
		for i := range normal.AUs {
			a.OnAccessUnit("cam1", p.next(normal, i))
		}
		st := a.Status("cam1")
		if st.Frames > 0 {
			return ""
		}
		if st.Restarts != restarts {
			restarts = st.Restarts
			clk.Advance(restartMax)
		}
		return fmt.Sprintf("no frame decoded; status %+v", st)
	})
	require.Greater(t, testutil.ToFloat64(a.metrics.restarts.WithLabelValues(restartExit))+
		testutil.ToFloat64(a.metrics.restarts.WithLabelValues(restartStall)), 1.0)
}

// TestStalledWriteEndsOnTheClock: a decoder that reads nothing (starved or hung) blocks the worker's write to
// its stdin; the write ends when it has waited DecoderStallTimeout on the Analyzer's clock, not the real one,
// and the decoder is restarted as stalled. With an OS write deadline a loaded machine's fresh ffmpeg was killed
// after 10 s of real time whatever the clock said (make stress: TestGarbageRestartsDecoder 0 of 3).
func TestStalledWriteEndsOnTheClock(t *testing.T) {
	testenv.SkipShort(t) // it starts a process
	reg := prometheus.NewRegistry()
	clk := clock.NewFake(time.Now())
	const stall = 10 * time.Second
	a, err := New(Config{FFmpegPath: filepath.Join("testdata", "ffmpeg-not-reading"), DecoderStallTimeout: stall,
		Cameras: []CameraConfig{{ID: "cam1"}}}, Deps{Registerer: reg, Clock: clk})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	defer a.Close()
	// More than a pipe holds, so the write blocks.
	a.OnAccessUnit("cam1", cameras.AccessUnit{Codec: cameras.CodecH264, NALUs: [][]byte{make([]byte, 4<<20)},
		Keyframe: true, Session: 1, Time: clk.Now()})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	require.NoError(t, clk.BlockUntil(ctx, 1), "the blocked write is not watched on the Analyzer's clock")
	stalls := a.metrics.restarts.WithLabelValues(restartStall)
	clk.Advance(stall - time.Millisecond)
	require.Equal(t, 1, clk.Waiters(), "the write must still be waiting")
	require.Zero(t, testutil.ToFloat64(stalls))
	clk.Advance(time.Millisecond)
	testenv.Eventually(t, time.Minute, 10*time.Millisecond, func() string {
		if st := a.Status("cam1"); testutil.ToFloat64(stalls) != 1 || st.State != StateFailing {
			return fmt.Sprintf("no stall restart; status %+v", st)
		}
		return ""
	})
	require.Contains(t, a.Status("cam1").Reason, "ffmpeg stalled")
}

func TestQueueFullDropsUntilKeyframe(t *testing.T) {
	// No Start: nothing drains the queue.
	reg := prometheus.NewRegistry()
	a, err := New(Config{FFmpegPath: testenv.LookPath(t, "ffmpeg"), QueueFrames: 4, Cameras: []CameraConfig{{ID: "cam1"}}},
		Deps{Registerer: reg})
	require.NoError(t, err)
	defer a.Close()
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	p := newPlayer()
	for i := range 12 {
		a.OnAccessUnit("cam1", p.next(normal, i))
	}
	require.Len(t, a.camera("cam1").queue, 4)
	require.Equal(t, 1.0, testutil.ToFloat64(a.metrics.dropped.WithLabelValues(dropQueueFull)))
	require.Equal(t, 7.0, testutil.ToFloat64(a.metrics.dropped.WithLabelValues(dropWaitKeyframe)))
	require.Equal(t, uint64(8), a.Status("cam1").Dropped)
}

func TestKeyframeOnlyFeed(t *testing.T) {
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1", AnalysisFPS: 1}}})
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	p := newPlayer()
	p.play(t, h.a, "cam1", normal, 3)
	// ffmpeg holds the last one or two access units until more arrive: with keyframes only, the
	// keyframes at 10s and 11s wait for the next GOPs.
	waitUntil(t, h.a, "cam1", p.start.Add(9*time.Second))
	st := h.a.Status("cam1")
	require.Equal(t, FeedKeyframes, st.Feed, "a 1 s GOP at 1 analysed frame per second needs keyframes only")
	require.InDelta(t, 1, st.FPS, 0.1)
}

func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "cam1"}, {ID: "cam2"}}})
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	p := newPlayer()
	p.play(t, h.a, "cam1", normal, 1)
	waitFrames(t, h.a, "cam1", 2)
	for i := range normal.AUs { // left in the queue and the decoder at Close
		h.a.OnAccessUnit("cam1", p.next(normal, i))
	}
	h.a.Close()
	h.a.Close()
	h.a.OnAccessUnit("cam1", p.next(normal, 0)) // after Close: ignored, no panic
	testenv.GoroutinesBackTo(t, before, 5*time.Second)
	require.Error(t, h.a.Start(), "no restart after Close")
}

// startCam1 starts an analyzer of one camera, cam1, with the real ffmpeg and its own metrics registry; it
// closes when the test ends.
func startCam1(t *testing.T) *Analyzer {
	t.Helper()
	a, err := New(Config{FFmpegPath: testenv.LookPath(t, "ffmpeg"), Cameras: []CameraConfig{{ID: "cam1"}}},
		Deps{Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	t.Cleanup(a.Close)
	return a
}

// TestPartialGOPFeed: at the default 2 analysed frames per second and a 1 s GOP (the embedded 12 fps clip),
// every analysed frame needs only the frames from its keyframe up to itself, so the tail of each GOP after its
// last analysed frame is never decoded. Issue 12: the analysis decoder decoded all 25 frames of a 720p GOP to
// analyse 2 of them, and ffmpeg was most of a camera's CPU.
func TestPartialGOPFeed(t *testing.T) {
	a := startCam1(t)
	normal := loadClip(t, clipPath("clip.h264"), cameras.CodecH264)
	p := newPlayer()
	const loops = 4
	p.play(t, a, "cam1", normal, loops)
	waitUntil(t, a, "cam1", p.start.Add(p.elapsed()-3*time.Second))
	st := a.Status("cam1")
	require.Equal(t, FeedPartial, st.Feed, "a 1 s GOP at 2 analysed frames per second is decoded up to its second analysed frame")
	require.InDelta(t, 2, st.FPS, 0.25)
	played := float64(loops * len(normal.AUs))
	decoded := testutil.ToFloat64(a.metrics.decoded)
	// Frames 0..6 of every 12 (the analysed ones at 0 s and 0.5 s, and the five between): 7/12 of the stream,
	// plus the first GOPs fed whole while the keyframe interval is measured.
	require.Less(t, decoded, 0.75*played, "decoded %v of %v frames played", decoded, played)
	require.Greater(t, decoded, 0.4*played, "decoded %v of %v frames played", decoded, played)
	t.Logf("decoded %v of %v frames played", decoded, played)
}
