package media

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"citywatch/cameras"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const clipFPS = 12

var testdataDir = filepath.Join("..", "..", "sim", "camerasim", "testdata")

// testClip is an Annex-B clip split into access units (without AUDs) like the monitor delivers them.
type testClip struct {
	codec         string
	vps, sps, pps []byte
	w, h          int
	aus           [][][]byte
	key           []bool
}

func loadClip(t testing.TB, name, codec string) *testClip {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	require.NoError(t, err)
	var nalus h264.AnnexB
	require.NoError(t, nalus.Unmarshal(b))
	h265c := codec == cameras.CodecH265
	c := &testClip{codec: codec}
	var cur [][]byte
	flush := func() {
		if len(cur) > 0 {
			c.aus = append(c.aus, cur)
			cur = nil
		}
	}
	for _, n := range nalus {
		if len(n) < 2 {
			continue
		}
		if isAUD(n, h265c) {
			flush()
			continue
		}
		switch typ := naluType(n, h265c); {
		case h265c && typ == 32 && c.vps == nil:
			c.vps = n
		case (h265c && typ == 33 || !h265c && typ == 7) && c.sps == nil:
			c.sps = n
		case (h265c && typ == 34 || !h265c && typ == 8) && c.pps == nil:
			c.pps = n
		}
		if !isParameterSet(n, h265c) { // the monitor hands parameter sets separately too
			cur = append(cur, n)
		}
	}
	flush()
	for _, au := range c.aus {
		if h265c {
			c.key = append(c.key, h265.IsRandomAccess(au))
		} else {
			c.key = append(c.key, h264.IsRandomAccess(au))
		}
	}
	if h265c {
		var sps h265.SPS
		require.NoError(t, sps.Unmarshal(c.sps))
		c.w, c.h = sps.Width(), sps.Height()
	} else {
		var sps h264.SPS
		require.NoError(t, sps.Unmarshal(c.sps))
		c.w, c.h = sps.Width(), sps.Height()
	}
	require.True(t, c.key[0], "clip must start with a keyframe")
	return c
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
		Codec: c.codec, NALUs: c.aus[p.i], PTS: p.n * 90000 / clipFPS, Keyframe: c.key[p.i],
		Time: p.start.Add(time.Duration(p.n) * time.Second / clipFPS), Session: p.session,
		VPS: c.vps, SPS: c.sps, PPS: c.pps, Width: c.w, Height: c.h,
	}
	p.n++
	p.i = (p.i + 1) % len(c.aus)
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
