package analyze

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/store/storetest"
)

const clipFPS = camerasim.FPS

var testdataDir = filepath.Join("..", "..", "sim", "camerasim", "testdata")

// testClip is an Annex-B clip split into access units (without AUDs).
type testClip = camerasim.Clip

// loadClip reads an Annex-B file as the simulator streams it.
func loadClip(t testing.TB, path, codec string) *testClip {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	c, err := camerasim.ParseClip(b, codec)
	require.NoError(t, err)
	require.True(t, c.Key[0], "clip must start with a keyframe")
	return c
}

// player turns clips into a continuous stream of access units with PTS and arrival times.
type player struct {
	session uint64
	n       int64
	start   time.Time
}

func newPlayer() *player {
	return &player{session: 1, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (p *player) next(c *testClip, i int) cameras.AccessUnit {
	au := cameras.AccessUnit{
		Codec: c.Codec, NALUs: c.AUs[i], PTS: p.n * 90000 / clipFPS, Keyframe: c.Key[i],
		Time: p.start.Add(time.Duration(p.n) * time.Second / clipFPS), Session: p.session,
		VPS: c.VPS, SPS: c.SPS, PPS: c.PPS, Width: c.Width, Height: c.Height,
	}
	p.n++
	return au
}

// elapsed is the stream time played so far.
func (p *player) elapsed() time.Duration { return time.Duration(p.n) * time.Second / clipFPS }

// play feeds the clip loops times, waiting for queue space (tests must not lose frames to the queue).
func (p *player) play(t testing.TB, a *Analyzer, id string, c *testClip, loops int) {
	t.Helper()
	for range loops {
		for i := range c.AUs {
			feedWait(t, a, id, p.next(c, i))
		}
	}
}

// feedWait hands au to the camera's queue, blocking while it is full: a test feeds faster than real time.
func feedWait(t testing.TB, a *Analyzer, id string, au cameras.AccessUnit) {
	t.Helper()
	c := a.camera(id)
	if c.keyOnly.Load() && !au.Keyframe {
		return
	}
	select {
	case c.queue <- au:
	case <-time.After(20 * time.Second):
		t.Fatalf("camera %s: queue stayed full for 20s", id)
	}
}

// waitFrames waits until the camera has analysed at least n frames in total.
func waitFrames(t testing.TB, a *Analyzer, id string, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return a.Status(id).Frames >= n }, 20*time.Second, 10*time.Millisecond,
		"camera %s: want %d analysed frames, status %+v", id, n, a.Status(id))
}

// waitUntil waits until the camera has analysed a frame at or after t.
func waitUntil(t testing.TB, a *Analyzer, id string, ts time.Time) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return !a.Status(id).LastFrame.Before(ts) }, 20*time.Second, 5*time.Millisecond) {
		t.Fatalf("camera %s: want a frame at %s, status %+v", id, ts, a.Status(id))
	}
}

// lastAnalysable is the time of the last frame played that is certain to be analysed at fps.
func (p *player) lastAnalysable(fps float64) time.Time {
	return p.start.Add(p.elapsed() - time.Second/clipFPS - time.Duration(float64(time.Second)/fps))
}

// eventLog collects events.
type eventLog struct{ testenv.Log[Event] }

func (l *eventLog) find(kind, what string, active bool) (Event, bool) {
	for _, e := range l.All() {
		if e.Kind == kind && (e.Zone == what || e.Tamper == what) && e.Active == active {
			return e, true
		}
	}
	return Event{}, false
}

// harness is an Analyzer with ffmpeg and collectors.
type harness struct {
	a   *Analyzer
	ev  *eventLog
	app *storetest.Appender
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.FFmpegPath == "" {
		cfg.FFmpegPath = testenv.LookPath(t, "ffmpeg")
	}
	h := &harness{ev: &eventLog{}, app: &storetest.Appender{}}
	a, err := New(cfg, Deps{Appender: h.app, Events: h.ev.Add})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	t.Cleanup(a.Close)
	h.a = a
	return h
}

func clipPath(name string) string { return filepath.Join(testdataDir, name) }

func cameraAU(key bool, sps, pps []byte, nalus [][]byte) cameras.AccessUnit {
	return cameras.AccessUnit{Codec: cameras.CodecH264, Keyframe: key, SPS: sps, PPS: pps, NALUs: nalus}
}
