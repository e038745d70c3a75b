package ward

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var t0 = time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)

// pts makes one point a second ending at t0 with the given values.
func pts(vals ...float64) []Point {
	out := make([]Point, len(vals))
	for i, v := range vals {
		out[i] = Point{T: t0.Add(time.Duration(i-len(vals)+1) * time.Second), V: v}
	}
	return out
}

var removedCases = []struct {
	name         string
	temps, heart []Point
	want         bool
}{
	{"worn: skin warm, pulse", pts(36.5, 36.6), pts(70, 71), false},
	{"taken off: skin cold, no pulse", pts(33.0, 31.5), nil, true},
	{"taken off: pulse only zeros", pts(30.0), pts(0, 0), true},
	{"cold skin but pulse present (cold room)", pts(33.5), pts(64), false},
	{"silent wearable is not 'removed'", nil, nil, false},
	{"old cold reading does not count", []Point{{T: t0.Add(-10 * time.Minute), V: 30}}, nil, false},
}

func TestWearableRemoved(t *testing.T) {
	for _, tc := range removedCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, WearableRemoved(SignalConfig{}, t0, tc.temps, tc.heart))
		})
	}
}

var leaveCases = []struct {
	name        string
	in          LeaveInputs
	door, leave bool
}{
	{"day: nothing", LeaveInputs{Night: false, Motion: pts(0.9), Temps: nil}, false, false},
	{"night, no motion", LeaveInputs{Night: true, Motion: pts(0.01, 0.02), Temps: pts(36.5)}, false, false},
	{"night motion, wearable present and steady", LeaveInputs{Night: true, Motion: pts(0.3), Temps: pts(36.5),
		RSSI: pts(-60, -61, -59, -60, -60, -61)}, true, false},
	{"night motion, wearable silent", LeaveInputs{Night: true, Motion: pts(0.3),
		Temps: []Point{{T: t0.Add(-5 * time.Minute), V: 36.5}}}, true, true},
	{"night motion, RSSI fell away from the gateway", LeaveInputs{Night: true, Motion: pts(0.3), Temps: pts(36.5),
		RSSI: pts(-60, -61, -59, -60, -60, -75)}, true, true},
	{"night motion, too little RSSI history to judge", LeaveInputs{Night: true, Motion: pts(0.3), Temps: pts(36.5),
		RSSI: pts(-60, -90)}, true, false},
}

func TestPossibleLeave(t *testing.T) {
	for _, tc := range leaveCases {
		t.Run(tc.name, func(t *testing.T) {
			door, leave := PossibleLeave(SignalConfig{}, t0, tc.in)
			assert.Equal(t, tc.door, door, "door")
			assert.Equal(t, tc.leave, leave, "leave")
		})
	}
}
