package media

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/internal/clock"
	"citywatch/internal/testenv"
)

// startOnClock starts m and waits until its janitor's two tickers wait on clk, so advancing clk reaches them.
func startOnClock(t *testing.T, m *Media, clk *clock.Fake) {
	t.Helper()
	require.NoError(t, m.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(ctx, 2))
}

// waitClip waits until the clip is stored (no longer recording) and returns it with its path.
func waitClip(t *testing.T, m *Media, id string) (Clip, string) {
	t.Helper()
	var c Clip
	var path string
	require.Eventually(t, func() bool {
		var err error
		c, path, err = m.Clip("cam1", id)
		return err == nil
	}, 20*time.Second, 10*time.Millisecond, "clip %s never completed", id)
	return c, path
}

type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) (codec string, dur float64) {
	t.Helper()
	fp := testenv.LookPath(t, "ffprobe")
	out, err := exec.Command(fp, "-v", "error", "-show_entries", "format=duration:stream=codec_name",
		"-of", "json", path).Output()
	require.NoError(t, err, "ffprobe %s", path)
	var p probe
	require.NoError(t, json.Unmarshal(out, &p), "%s", out)
	require.Len(t, p.Streams, 1, "%s", out)
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	require.NoError(t, err, "duration in %s", out)
	return p.Streams[0].CodecName, d
}

// gopSeconds is the keyframe interval of the test clips (gen-clip.sh: -g 12 at 12 fps).
const gopSeconds = 1.0

func TestClipRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		file, codec, probeCodec string
	}{{"clip.h264", cameras.CodecH264, "h264"}, {"clip.h265", cameras.CodecH265, "hevc"}} {
		t.Run(tc.codec, func(t *testing.T) {
			m, reg := newTestMedia(t, nil)
			p := newPlayer(loadClip(t, tc.file, tc.codec))
			p.feed(m, "cam1", 8*clipFPS+6) // 8.5 s
			at := p.at()
			c, err := m.StartClip("cam1", "motion in zone door", at)
			require.NoError(t, err)
			require.True(t, ValidClipID(c.ID), c.ID)
			assert.True(t, c.Recording)
			list := m.Clips("cam1")
			require.Len(t, list, 1)
			assert.True(t, list[0].Recording)
			_, _, err = m.Clip("cam1", c.ID)
			require.ErrorIs(t, err, ErrClipInProgress)

			p.feed(m, "cam1", 11*clipFPS) // past the post-event time: the clip ends
			got, path := waitClip(t, m, c.ID)
			assert.Equal(t, filepath.Join(m.clipsDir, "cam1", c.ID+".mp4"), path)
			assert.False(t, got.Recording)
			assert.Equal(t, tc.codec, got.Codec)
			assert.Equal(t, "motion in zone door", got.Reason)
			assert.Equal(t, 640, got.Width)

			want := DefaultPreSeconds + DefaultPostSeconds
			tol := gopSeconds + 2.0/clipFPS // pre-roll starts at a keyframe up to one GOP early
			assert.InDelta(t, want, got.DurationSeconds, tol)
			codec, dur := ffprobe(t, path)
			assert.Equal(t, tc.probeCodec, codec)
			assert.InDelta(t, want, dur, tol)
			assert.InDelta(t, got.DurationSeconds, dur, 2.0/clipFPS)

			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, fi.Size(), got.SizeBytes)
			var side Clip
			b, err := os.ReadFile(filepath.Join(m.clipsDir, "cam1", c.ID+".json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &side))
			assert.Equal(t, got, side)
			assert.Equal(t, 1.0, testutil.ToFloat64(m.met.clips.WithLabelValues(clipWritten)))
			assert.Equal(t, float64(fi.Size()), testutil.ToFloat64(m.met.clipBytes))
			noTemp(t, filepath.Join(m.clipsDir, "cam1"))
			_ = reg

			// A restart finds the clip again.
			m.Close()
			m2, err := New(m.cfg, Deps{})
			require.NoError(t, err)
			require.NoError(t, m2.Start())
			defer m2.Close()
			again, _, err := m2.Clip("cam1", c.ID)
			require.NoError(t, err)
			assert.Equal(t, got.ID, again.ID)
			assert.Equal(t, got.SizeBytes, again.SizeBytes)
		})
	}
}

func noTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasSuffix(e.Name(), ".tmp"), "leftover %s", e.Name())
	}
}

func TestClipExtendedAndBounded(t *testing.T) {
	m, _ := newTestMedia(t, func(c *Config) { c.MaxClipSeconds = 20 })
	p := newPlayer(loadClip(t, "clip.h264", cameras.CodecH264))
	p.feed(m, "cam1", 6*clipFPS)
	at := p.at() // 6 s: pre-roll from 1 s
	c, err := m.StartClip("cam1", "motion", at)
	require.NoError(t, err)
	p.feed(m, "cam1", 3*clipFPS)
	c2, err := m.StartClip("cam1", "tamper", p.at()) // 9 s: end moves to 19 s
	require.NoError(t, err)
	assert.Equal(t, c.ID, c2.ID)
	assert.Equal(t, 2, c2.Events)
	assert.Equal(t, epoch.Add(19*time.Second), c2.End)
	p.feed(m, "cam1", 8*clipFPS)
	c3, err := m.StartClip("cam1", "motion", p.at()) // 17 s: 27 s is beyond start+20 s = 21 s
	require.NoError(t, err)
	assert.Equal(t, epoch.Add(21*time.Second), c3.End)
	p.feed(m, "cam1", 10*clipFPS)
	got, path := waitClip(t, m, c.ID)
	assert.Equal(t, 3, got.Events)
	assert.Equal(t, "motion", got.Reason)
	assert.InDelta(t, 20, got.DurationSeconds, 2.0/clipFPS)
	_, dur := ffprobe(t, path)
	assert.InDelta(t, 20, dur, 2.0/clipFPS)

	// A later event starts a new clip.
	c4, err := m.StartClip("cam1", "motion", p.at())
	require.NoError(t, err)
	assert.NotEqual(t, c.ID, c4.ID)
}

func TestClipWithoutRingWaitsForKeyframe(t *testing.T) {
	m, _ := newTestMedia(t, func(c *Config) { c.Cameras[0].PostSeconds = 2 })
	p := newPlayer(loadClip(t, "clip.h264", cameras.CodecH264))
	c, err := m.StartClip("cam1", "manual", epoch)
	require.NoError(t, err)
	p.i = 3 // start mid-GOP: frames before the next keyframe are skipped
	p.feed(m, "cam1", 4*clipFPS)
	got, path := waitClip(t, m, c.ID)
	// Keyframe at frame 9 (0.75 s) up to 2 s: 1.25 s plus the last frame.
	assert.InDelta(t, 1.25+1.0/clipFPS, got.DurationSeconds, 1.0/clipFPS)
	codec, _ := ffprobe(t, path)
	assert.Equal(t, "h264", codec)
}

func TestCloseFinishesRecording(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	p := newPlayer(loadClip(t, "clip.h264", cameras.CodecH264))
	p.feed(m, "cam1", 3*clipFPS)
	c, err := m.StartClip("cam1", "motion", p.at())
	require.NoError(t, err)
	p.feed(m, "cam1", clipFPS)
	m.Close()
	m.Close()
	path := filepath.Join(m.clipsDir, "cam1", c.ID+".mp4")
	_, dur := ffprobe(t, path)
	assert.InDelta(t, 4, dur, 2.0/clipFPS)
	noTemp(t, filepath.Join(m.clipsDir, "cam1"))
	_, err = m.StartClip("cam1", "motion", p.at())
	require.ErrorIs(t, err, ErrClosed)
}

func TestClipIdleEndsRecording(t *testing.T) {
	clk := clock.NewFake(time.Now())
	cfg := Config{DataDir: t.TempDir(), Cameras: []CameraConfig{{ID: "cam1"}}, ClipIdleTimeout: time.Second}
	m, err := New(cfg, Deps{Clock: clk})
	require.NoError(t, err)
	startOnClock(t, m, clk)
	defer m.Close()
	p := newPlayer(loadClip(t, "clip.h264", cameras.CodecH264))
	p.feed(m, "cam1", 2*clipFPS)
	c, err := m.StartClip("cam1", "motion", p.at())
	require.NoError(t, err)
	p.feed(m, "cam1", 6)
	clk.Advance(2 * time.Second) // the camera stalls: the janitor's idle check ends the clip
	got, _ := waitClip(t, m, c.ID)
	assert.InDelta(t, 2.5, got.DurationSeconds, 2.0/clipFPS)
}

func TestClipRetention(t *testing.T) {
	clk := clock.NewFake(epoch)
	reg := prometheus.NewRegistry()
	cfg := Config{DataDir: t.TempDir(), Cameras: []CameraConfig{{ID: "cam1", PostSeconds: 1}},
		JanitorInterval: time.Hour}
	m, err := New(cfg, Deps{Clock: clk, Registerer: reg})
	require.NoError(t, err)
	startOnClock(t, m, clk)
	defer m.Close()
	p := newPlayer(loadClip(t, "clip.h264", cameras.CodecH264))
	var ids []string
	for range 3 {
		p.feed(m, "cam1", 6*clipFPS)
		c, err := m.StartClip("cam1", "motion", p.at())
		require.NoError(t, err)
		clk.Set(p.at())
		p.feed(m, "cam1", 2*clipFPS)
		waitClip(t, m, c.ID)
		ids = append(ids, c.ID)
	}
	require.Len(t, m.Clips("cam1"), 3)
	assert.Equal(t, ids[2], m.Clips("cam1")[0].ID, "newest first")

	// Size bound: room for two clips.
	var sizes []int64
	for _, c := range m.Clips("cam1") {
		sizes = append(sizes, c.SizeBytes)
	}
	m.cfg.MaxClipBytes = sizes[0] + sizes[1]
	m.retention()
	list := m.Clips("cam1")
	require.Len(t, list, 2)
	assert.Equal(t, ids[2], list[0].ID)
	assert.Equal(t, ids[1], list[1].ID)
	_, _, err = m.Clip("cam1", ids[0])
	require.ErrorIs(t, err, ErrClipNotFound)
	assert.NoFileExists(t, filepath.Join(m.clipsDir, "cam1", ids[0]+".mp4"))
	assert.NoFileExists(t, filepath.Join(m.clipsDir, "cam1", ids[0]+".json"))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.met.clips.WithLabelValues(clipEvicted)))

	// Age bound.
	// The janitor's hourly retention runs on the clock. Advance fires every hourly tick on its way, and the
	// janitor reads the clock when it gets to a tick, which may still be the tick's own time: the tick at
	// 168 h finds the clips (made seconds after the start) just short of 7 days old. The tick an hour later
	// is past their expiry whenever the janitor reads the clock.
	clk.Advance(DefaultRetention + cfg.JanitorInterval + time.Minute)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(m.met.clips.WithLabelValues(clipExpired)) == 2 && testutil.ToFloat64(m.met.clipBytes) == 0
	}, 20*time.Second, time.Millisecond)
	assert.Empty(t, m.Clips("cam1"))
}

func TestStartRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	camDir := filepath.Join(dir, "clips", "cam1")
	require.NoError(t, os.MkdirAll(camDir, 0o750))
	for _, name := range []string{".20260101T000000Z-00000000.mp4.tmp", "20260101T000000Z-00000001.mp4",
		"20260101T000000Z-00000002.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(camDir, name), []byte("x"), 0o640))
	}
	m, err := New(Config{DataDir: dir, Cameras: []CameraConfig{{ID: "cam1"}}}, Deps{})
	require.NoError(t, err)
	require.NoError(t, m.Start())
	defer m.Close()
	entries, err := os.ReadDir(camDir)
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Equal(t, 3.0, testutil.ToFloat64(m.met.clips.WithLabelValues(clipDiscarded)))
}

// clipIDCases seed FuzzClipID.
var clipIDCases = []struct {
	id    string
	valid bool
}{
	{"20260101T120000Z-0a1b2c3d", true},
	{"20261231T235959Z-ffffffff", true},
	{"", false},
	{"..", false},
	{"../../etc/passwd", false},
	{"20260101T120000Z-0a1b2c3d/../x", false},
	{"20260101T120000Z-0A1B2C3D", false},
	{"20260101T120000Z-0a1b2c3d.mp4", false},
	{"20260101T120000Z-0a1b2c3d\n", false},
	{"20260101T120000Z-0a1b2c3", false},
	{"/20260101T120000Z-0a1b2c3d", false},
	{"20260101T120000Z_0a1b2c3d", false},
	{"20260101T120000Z-0a1b2c3d\x00", false},
	{"２0260101T120000Z-0a1b2c3d", false},
}

func TestValidClipID(t *testing.T) {
	for _, c := range clipIDCases {
		assert.Equal(t, c.valid, ValidClipID(c.id), "%q", c.id)
	}
	assert.True(t, ValidClipID(newClipID(time.Now())))
}

func TestClipLookupRejectsBadIDs(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	for _, c := range clipIDCases {
		_, _, err := m.Clip("cam1", c.id)
		require.ErrorIs(t, err, ErrClipNotFound, "%q", c.id)
	}
	_, _, err := m.Clip("../cam1", "20260101T120000Z-0a1b2c3d")
	require.ErrorIs(t, err, ErrCameraNotFound)
	assert.Nil(t, m.Clips("nope"))
	_, err = m.StartClip("nope", "x", time.Now())
	require.ErrorIs(t, err, ErrCameraNotFound)
}

func FuzzClipID(f *testing.F) {
	for _, c := range clipIDCases {
		f.Add(c.id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !ValidClipID(id) {
			return
		}
		if filepath.Base(id) != id || strings.ContainsAny(id, `/\.`+"\x00") || filepath.Clean(id) != id ||
			len(id) != len("20260101T120000Z-0a1b2c3d") {
			t.Fatalf("valid clip ID %q is not a plain file name", id)
		}
	})
}

func TestCleanReason(t *testing.T) {
	assert.Equal(t, "event", cleanReason(" \n\t"))
	assert.Equal(t, "a b", cleanReason("a\nb"))
	long := strings.Repeat("é", 300)
	got := cleanReason(long)
	assert.LessOrEqual(t, len(got), maxReasonLen)
	assert.Equal(t, got, strings.ToValidUTF8(got, ""))
}
