package analyze

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/cameras"
)

// mjpegPaceCases are M-JPEG arrival patterns and how many of their frames the thinning before the decoder
// feeds at the default 2 frames per second. Arrival times, not the CPU the test gets, decide.
var mjpegPaceCases = []struct {
	name   string
	gaps   []time.Duration // arrival gaps, repeated until span
	span   time.Duration
	fed    int // frames fed over span, ±1
	reason string
}{
	{"10 fps for 4 s", []time.Duration{100 * time.Millisecond}, 4 * time.Second, 8, "thinned to 2 fps"},
	{"25 fps jittered", []time.Duration{30 * time.Millisecond, 50 * time.Millisecond}, 4 * time.Second, 8, "jitter does not add frames"},
	{"1 fps", []time.Duration{time.Second}, 4 * time.Second, 4, "a slow camera: every frame"},
	{"2 fps", []time.Duration{500 * time.Millisecond}, 4 * time.Second, 8, "at the rate: every frame"},
	{"bursts", []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 970 * time.Millisecond}, 4 * time.Second, 4, "frames of a burst are too close together: one of each burst"},
}

// TestMJPEGThinningRate: the arrival-time pacing of M-JPEG (every frame a keyframe) feeds about AnalysisFPS
// frames per second of stream, never more, and every frame of a camera slower than that.
func TestMJPEGThinningRate(t *testing.T) {
	for _, tc := range mjpegPaceCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := CameraConfig{ID: "cam1"}
			cfg.SetDefaults()
			c := &camera{cfg: cfg}
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			end := at.Add(tc.span)
			fed := 0
			for i := 0; at.Before(end); i++ {
				if c.mjpegDue(cameras.AccessUnit{Time: at, Session: 1}) {
					fed++
				}
				at = at.Add(tc.gaps[i%len(tc.gaps)])
			}
			require.InDelta(t, tc.fed, fed, 1, tc.reason)
		})
	}
}
