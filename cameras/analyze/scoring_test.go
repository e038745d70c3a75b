package analyze

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/cameras/annexb"
)

var zoneCases = []struct {
	in      string
	wantErr string
	points  int
}{
	{in: "door: 0,0 0.5,0 0.5,0.5 0,0.5", points: 4},
	{in: "band:0,0.3 1,0.3 1,0.7", points: 3},
	{in: "no-colon 0,0 1,0 1,1", wantErr: "want"},
	{in: ": 0,0 1,0 1,1", wantErr: "name"},
	{in: "a: 0,0 1,0", wantErr: "3.."},
	{in: "a: 0,0 1,0 2,1", wantErr: "0..1"},
	{in: "a: 0,0 1,0 NaN,1", wantErr: "0..1"},
	{in: "a: 0,0 1,1 0.5,0.5", wantErr: "area"},
	{in: "a: 0,0 1;0 1,1", wantErr: "want x,y"},
	{in: "a: 0,0 x,0 1,1", wantErr: "x:"},
	{in: "bad name: 0,0 1,0 1,1", wantErr: "name"},
}

func TestParseZone(t *testing.T) {
	for _, tc := range zoneCases {
		z, err := ParseZone(tc.in)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Len(t, z.Polygon, tc.points)
	}
}

func FuzzParseZone(f *testing.F) {
	for _, tc := range zoneCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		z, err := ParseZone(s)
		if err != nil {
			return
		}
		require.NoError(t, z.Validate())
		for _, size := range [][2]int{{160, 90}, {8, 6}, {1, 1}} {
			m := polygonMask(z.Polygon, size[0], size[1])
			require.NotEmpty(t, m, "a valid zone always scores at least one pixel")
			for _, i := range m {
				require.True(t, i >= 0 && int(i) < size[0]*size[1])
			}
		}
	})
}

var maskCases = []struct {
	name string
	poly [][2]float64
	w, h int
	want int
}{
	{"full", [][2]float64{{0, 0}, {1, 0}, {1, 1}, {0, 1}}, 10, 10, 100},
	{"left half", [][2]float64{{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}}, 10, 10, 50},
	{"band", [][2]float64{{0, 0.3}, {1, 0.3}, {1, 0.7}, {0, 0.7}}, 10, 10, 40},
	{"triangle (45 inside, 2 centres on the edge round in)", [][2]float64{{0, 0}, {1, 0}, {0, 1}}, 10, 10, 47},
	{"tiny gets one pixel", [][2]float64{{0.51, 0.51}, {0.52, 0.51}, {0.52, 0.52}}, 10, 10, 1},
	{"no picture", [][2]float64{{0, 0}, {1, 0}, {1, 1}}, 0, 0, 0},
}

func TestPolygonMask(t *testing.T) {
	for _, tc := range maskCases {
		t.Run(tc.name, func(t *testing.T) {
			require.Len(t, polygonMask(tc.poly, tc.w, tc.h), tc.want)
		})
	}
}

var diffCases = []struct {
	name  string
	a, b  []byte
	idx   []int32
	noise int
	want  float64
}{
	{"identical", []byte{1, 2, 3}, []byte{1, 2, 3}, nil, 0, 0},
	{"full swing", []byte{0, 0}, []byte{255, 255}, nil, 0, 1},
	{"half the pixels", []byte{0, 0}, []byte{255, 0}, nil, 0, 0.5},
	{"masked", []byte{0, 0}, []byte{255, 0}, []int32{1}, 0, 0},
	{"noise gated", []byte{10, 10}, []byte{14, 110}, nil, 5, 100.0 / 2 / 255},
	{"index out of range ignored", []byte{0}, []byte{255}, []int32{0, 7}, 0, 1},
	{"empty", nil, nil, nil, 0, 0},
}

func TestMeanAbsDiff(t *testing.T) {
	for _, tc := range diffCases {
		require.InDelta(t, tc.want, meanAbsDiff(tc.a, tc.b, tc.idx, tc.noise), 1e-9, tc.name)
	}
}

var statsCases = []struct {
	name           string
	pix            []byte
	mean, variance float64
}{
	{"black", []byte{0, 0, 0, 0}, 0, 0},
	{"flat grey", []byte{128, 128}, 128.0 / 255, 0},
	{"two levels", []byte{0, 255}, 0.5, 0.25},
	{"empty", nil, 0, 0},
}

func TestLumaStats(t *testing.T) {
	for _, tc := range statsCases {
		m, v := lumaStats(tc.pix)
		require.InDelta(t, tc.mean, m, 1e-9, tc.name)
		require.InDelta(t, tc.variance, v, 1e-9, tc.name)
	}
}

var hysteresisCases = []struct {
	name   string
	scores []float64
	// want is the state after each score
	want []bool
}{
	{"needs two frames above on", []float64{0.5, 0.5, 0.5}, []bool{false, true, true}},
	{"a single spike is ignored", []float64{0.5, 0, 0.5, 0}, []bool{false, false, false, false}},
	{"between thresholds holds", []float64{0.5, 0.5, 0.07, 0.07, 0.07, 0.07}, []bool{false, true, true, true, true, true}},
	{"ends after three below off", []float64{0.5, 0.5, 0.01, 0.01, 0.2, 0.01, 0.01, 0.01}, []bool{false, true, true, true, true, true, true, false}},
}

func TestHysteresis(t *testing.T) {
	for _, tc := range hysteresisCases {
		h := hysteresis{on: 0.1, off: 0.05, onN: 2, offN: 3}
		for i, s := range tc.scores {
			h.update(s)
			require.Equal(t, tc.want[i], h.active, "%s: after score %d", tc.name, i)
		}
	}
}

func TestDebounce(t *testing.T) {
	t0 := time.Unix(0, 0)
	var d debounce
	require.False(t, d.update(true, t0, 2*time.Second, time.Second))
	require.False(t, d.update(true, t0.Add(time.Second), 2*time.Second, time.Second))
	require.True(t, d.update(true, t0.Add(2*time.Second), 2*time.Second, time.Second))
	require.True(t, d.active)
	require.False(t, d.update(false, t0.Add(3*time.Second), 2*time.Second, time.Second))
	require.False(t, d.update(true, t0.Add(3500*time.Millisecond), 2*time.Second, time.Second), "interrupted")
	require.False(t, d.update(false, t0.Add(4*time.Second), 2*time.Second, time.Second))
	require.True(t, d.update(false, t0.Add(5*time.Second), 2*time.Second, time.Second))
	require.False(t, d.active)
}

// checker draws a w×h checkerboard of square size sq, offset by dx pixels.
func checker(w, h, sq, dx int) []float32 {
	p := make([]float32, w*h)
	for y := range h {
		for x := range w {
			if ((x+dx)/sq+y/sq)%2 == 0 {
				p[y*w+x] = 200
			}
		}
	}
	return p
}

func TestMovedScore(t *testing.T) {
	const w, h = 160, 90
	edges := func(p []float32) []float32 {
		e := make([]float32, w*h)
		gradient(p, w, h, e)
		return e
	}
	ref := edges(checker(w, h, 10, 0))
	require.InDelta(t, 0, movedScore(ref, ref, w, h), 1e-9, "same scene")
	require.Greater(t, movedScore(ref, edges(checker(w, h, 10, 5)), w, h), 0.9, "shifted by half a square")
	flat := make([]float32, w*h)
	require.Equal(t, 0.0, movedScore(edges(flat), edges(flat), w, h), "too flat to judge")
	// Occluding one region (a box in a zone) changes a few cells only.
	occluded := checker(w, h, 10, 0)
	for y := 30; y < 60; y++ {
		for x := 0; x < 40; x++ {
			occluded[y*w+x] = 255
		}
	}
	require.Less(t, movedScore(ref, edges(occluded), w, h), 0.3)
}

var configCases = []struct {
	name    string
	cfg     Config
	wantErr string
}{
	{"defaults", Config{Cameras: []CameraConfig{{ID: "c1"}}}, ""},
	{"duplicate id", Config{Cameras: []CameraConfig{{ID: "c1"}, {ID: "c1"}}}, `cameras[1].id: "c1" already used`},
	{"bad id", Config{Cameras: []CameraConfig{{ID: "a b"}}}, "cameras[0].id"},
	{"bad feed", Config{Cameras: []CameraConfig{{ID: "c", Feed: "some"}}}, "feed"},
	{"fps", Config{Cameras: []CameraConfig{{ID: "c", AnalysisFPS: 100}}}, "analysis_fps"},
	{"off above on", Config{Cameras: []CameraConfig{{ID: "c", MotionThreshold: 0.1, MotionOffThreshold: 0.2}}}, "motion_off_threshold"},
	{"zone", Config{Cameras: []CameraConfig{{ID: "c", Zones: []Zone{{Name: "z", Polygon: [][2]float64{{0, 0}}}}}}}, "zones[0].polygon"},
	{"zone twice", Config{Cameras: []CameraConfig{{ID: "c", Zones: []Zone{zoneBand, zoneBand}}}}, "used twice"},
	{"negative", Config{Cameras: []CameraConfig{{ID: "c", FrozenAfter: -time.Second}}}, "frozen_after"},
	{"queue", Config{QueueFrames: -1}, "queue_frames"},
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range configCases {
		cfg := tc.cfg
		cfg.SetDefaults()
		err := cfg.Validate()
		if tc.wantErr == "" {
			require.NoError(t, err, tc.name)
			continue
		}
		require.ErrorContains(t, err, tc.wantErr, tc.name)
	}
}

func TestAnalysisSize(t *testing.T) {
	for _, tc := range []struct{ w, h, aw, ah int }{
		{640, 360, 160, 90}, {1920, 1080, 160, 90}, {640, 480, 160, 120}, {0, 0, 160, 90}, {100, 10000, 160, 320}, {10000, 10, 160, 32},
	} {
		aw, ah := analysisSize(tc.w, tc.h)
		require.Equal(t, [2]int{tc.aw, tc.ah}, [2]int{aw, ah}, "%dx%d", tc.w, tc.h)
	}
}

// FuzzAnalyse feeds arbitrary access units through the Annex-B writer and arbitrary pictures through the
// detector: neither may panic.
func FuzzAnalyse(f *testing.F) {
	f.Add([]byte{0x65, 1, 2}, []byte{1, 2, 3, 4}, true, false)
	f.Add([]byte{}, []byte{}, false, true)
	f.Add([]byte{0x46, 0x01}, make([]byte, 64), true, true)
	f.Fuzz(func(t *testing.T, nalu, pix []byte, key, h265 bool) {
		au := cameraAU(key, nalu, nalu, [][]byte{nalu, nil, pix})
		au.VPS = pix
		_ = annexb.Append(nil, au, h265)
		cfg := CameraConfig{ID: "c", LearnFrames: 1}
		cfg.SetDefaults()
		d := newDetector(cfg)
		d.resize(8, 6)
		t0 := time.Unix(0, 0)
		for i := range 3 {
			frame := make([]byte, 48)
			copy(frame, pix)
			if i == 1 {
				frame = pix // any length
			}
			_ = d.analyse(frame, t0.Add(time.Duration(i)*time.Second))
		}
	})
}
