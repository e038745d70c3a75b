package analyze

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/cameras/privacymask"
)

// movingSquare is a w×h textured frame with a bright 16×16 square at x.
func movingSquare(w, h, x int) []byte {
	pix := make([]byte, w*h)
	for i := range pix {
		pix[i] = byte(60 + (i*7)%40)
	}
	for y := 10; y < 26; y++ {
		for dx := range 16 {
			pix[y*w+x+dx] = 250
		}
	}
	return pix
}

// TestDetectorIgnoresPrivacyMask: a square moving only behind the mask starts no motion in the zone that
// covers the whole picture, while the same frames without a mask do; a zone entirely behind the mask scores 0.
func TestDetectorIgnoresPrivacyMask(t *testing.T) {
	leftHalf := privacymask.Mask{{{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}}}
	hiddenZone := Zone{Name: "hidden", Polygon: [][2]float64{{0.1, 0.1}, {0.4, 0.1}, {0.4, 0.9}, {0.1, 0.9}}}
	for _, tc := range []struct {
		name       string
		mask       privacymask.Mask
		wantMotion bool
	}{{"unmasked", nil, true}, {"masked", leftHalf, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := CameraConfig{ID: "cam1", PrivacyMask: tc.mask,
				Zones: []Zone{{Name: DefaultZone, Polygon: [][2]float64{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}, hiddenZone}}
			cfg.SetDefaults()
			require.NoError(t, cfg.Validate())
			d := newDetector(cfg)
			const w, h = 64, 48
			d.resize(w, h)
			t0 := time.Unix(0, 0)
			motion := false
			var hiddenMax float64
			for i := range 20 {
				r := d.analyse(movingSquare(w, h, 2+(i%2)*12), t0.Add(time.Duration(i)*500*time.Millisecond))
				for _, c := range r.changes {
					if c.kind == KindMotion && c.active {
						motion = true
					}
				}
				if r.motion != nil {
					hiddenMax = max(hiddenMax, r.motion[1])
				}
			}
			require.Equal(t, tc.wantMotion, motion)
			if tc.mask != nil {
				require.Zero(t, hiddenMax, "a zone behind the mask must never score")
			}
		})
	}
}

// TestMotionBehindPrivacyMask: the motion clip's box crosses the band; with the band masked, the analysis
// through ffmpeg reports no motion in it.
func TestMotionBehindPrivacyMask(t *testing.T) {
	cc := CameraConfig{ID: "cam1", Site: "siteA", Zones: []Zone{zoneBand}, MotionThreshold: 0.1,
		PrivacyMask: privacymask.Mask{zoneBand.Polygon}}
	h := newHarness(t, Config{Cameras: []CameraConfig{cc}})
	motion := loadClip(t, clipPath("motion.h264"), cameras.CodecH264)
	p := newPlayer()
	p.play(t, h.a, "cam1", motion, 2)
	waitUntil(t, h.a, "cam1", p.lastAnalysable(2))
	_, started := h.ev.find(KindMotion, "band", true)
	require.False(t, started, "motion behind the privacy mask must never trigger: %+v", h.ev.All())
	band := h.app.Series(MetricMotionScore, "zone", "band")
	require.NotEmpty(t, band)
	for _, s := range band {
		require.Zero(t, s.V)
	}
}

var privacyMaskConfigCases = []struct {
	name string
	mask privacymask.Mask
	err  string
}{
	{"ok", privacymask.Mask{{{0, 0}, {1, 0}, {1, 1}}}, ""},
	{"outside", privacymask.Mask{{{0, 0}, {2, 0}, {1, 1}}}, "privacy_mask[0][1]: coordinates must be in 0..1, got [2, 0]"},
}

func TestPrivacyMaskConfig(t *testing.T) {
	for _, tc := range privacyMaskConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			c := CameraConfig{ID: "cam1", PrivacyMask: tc.mask}
			c.SetDefaults()
			err := c.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.err)
		})
	}
}
