package media

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"citywatch/cameras"
	"citywatch/sim/camerasim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const clipFPS = camerasim.FPS

var testdataDir = filepath.Join("..", "..", "sim", "camerasim", "testdata")

// testClip is an Annex-B clip split into access units (without AUDs).
type testClip = camerasim.Clip

// loadClip reads testdata/<name> as the monitor delivers it: parameter sets apart, not in the access units.
func loadClip(t testing.TB, name, codec string) *testClip {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	require.NoError(t, err)
	c, err := camerasim.ParseClip(b, codec)
	require.NoError(t, err)
	require.True(t, c.Key[0], "clip must start with a keyframe")
	return c.WithoutParameterSets()
}

// player turns a clip into a continuous stream of access units with realistic PTS and arrival times.
type player struct {
	clip    *testClip
	session uint64
	n       int64
	i       int
	start   time.Time
}

var epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newPlayer(c *testClip) *player { return &player{clip: c, session: 1, start: epoch} }

func (p *player) next() cameras.AccessUnit {
	c := p.clip
	au := cameras.AccessUnit{
		Codec: c.Codec, NALUs: c.AUs[p.i], PTS: p.n * 90000 / clipFPS, Keyframe: c.Key[p.i],
		Time: p.start.Add(time.Duration(p.n) * time.Second / clipFPS), Session: p.session,
		VPS: c.VPS, SPS: c.SPS, PPS: c.PPS, Width: c.Width, Height: c.Height,
	}
	p.n++
	p.i = (p.i + 1) % len(c.AUs)
	return au
}

// at is the arrival time of the next access unit.
func (p *player) at() time.Time { return p.start.Add(time.Duration(p.n) * time.Second / clipFPS) }

func (p *player) feed(m *Media, id string, frames int) {
	for range frames {
		m.OnAccessUnit(id, p.next())
	}
}

// newTestMedia builds and starts Media with one camera "cam1" and registers Close as cleanup.
func newTestMedia(t *testing.T, mod func(*Config)) (*Media, *prometheus.Registry) {
	t.Helper()
	cfg := Config{DataDir: t.TempDir(), Cameras: []CameraConfig{{ID: "cam1", Site: "s1"}}}
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	m, err := New(cfg, Deps{Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, m.Start())
	t.Cleanup(m.Close)
	return m, reg
}
