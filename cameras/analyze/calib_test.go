package analyze

import (
	"fmt"
	"testing"
)

func TestCalibrate(t *testing.T) {
	var zones []Zone
	for gy := 0; gy < 4; gy++ {
		for gx := 0; gx < 4; gx++ {
			x0, y0 := float64(gx)/4, float64(gy)/4
			zones = append(zones, Zone{Name: fmt.Sprintf("c%d%d", gx, gy), Polygon: [][2]float64{{x0, y0}, {x0 + .25, y0}, {x0 + .25, y0 + .25}, {x0, y0 + .25}}})
		}
	}
	zones = append(zones[1:], Zone{Name: "band", Polygon: [][2]float64{{0, .3}, {1, .3}, {1, .7}, {0, .7}}})
	for _, name := range []string{"clip.h264", "motion.h264", "black.h264"} {
		h := newHarness(t, Config{Cameras: []CameraConfig{{ID: "c", Zones: zones, LearnFrames: 8}}})
		c := loadClip(t, clipPath(name), "H264")
		p := newPlayer()
		p.play(t, h.a, "c", c, 2)
		waitUntil(t, h.a, "c", p.lastAnalysable(2))
		for _, z := range zones {
			var mx, sum float64
			ss := h.app.series(MetricMotionScore, "zone", z.Name)
			for _, s := range ss {
				mx = max(mx, s.V)
				sum += s.V
			}
			t.Logf("%s %s n=%d max=%.4f mean=%.4f", name, z.Name, len(ss), mx, sum/float64(len(ss)))
		}
		cc := h.a.cams["c"]
		_ = cc
		t.Logf("%s status %+v", name, h.a.Status("c"))
		h.a.Close()
	}
}
