package ward

import (
	"sort"
	"time"
)

// SignalConfig are the thresholds of the occupant signals.
type SignalConfig struct {
	// Recent is how far back the signals look. It defaults to 2m.
	Recent time.Duration
	// RemovedBelow is the skin temperature under which a wearable with no heart rate counts as taken off. It
	// defaults to 34.0 °C.
	RemovedBelow float64
	// MotionThreshold is the door-zone motion score that counts as motion. It defaults to 0.05.
	MotionThreshold float64
	// RSSIDrop is how far (dB) the wearable's RSSI must fall below its median of the last half hour to count as
	// moving away from the room's gateway. It defaults to 10.
	RSSIDrop float64
}

func (c SignalConfig) withDefaults() SignalConfig {
	if c.Recent <= 0 {
		c.Recent = 2 * time.Minute
	}
	if c.RemovedBelow == 0 {
		c.RemovedBelow = 34.0
	}
	if c.MotionThreshold == 0 {
		c.MotionThreshold = 0.05
	}
	if c.RSSIDrop == 0 {
		c.RSSIDrop = 10
	}
	return c
}

// WearableRemoved decides "wearable removed": the wearable still reports skin temperature, its latest value is
// below RemovedBelow, and it reported no heart rate (or only zeros) in the recent window.
func WearableRemoved(c SignalConfig, now time.Time, temps, heart []Point) bool {
	c = c.withDefaults()
	t, ok := latest(temps, now.Add(-c.Recent))
	if !ok || t.V >= c.RemovedBelow {
		return false
	}
	for _, p := range heart {
		if !p.T.Before(now.Add(-c.Recent)) && p.V > 0 {
			return false
		}
	}
	return true
}

// LeaveInputs are what PossibleLeave weighs for one room.
type LeaveInputs struct {
	// Night says whether now is in the site's night hours.
	Night bool
	// Motion are the door zone's motion scores; Temps the wearable's body temperatures (its liveness); RSSI its
	// radio signal over the last half hour.
	Motion, Temps, RSSI []Point
}

// PossibleLeave decides "possible leave": at night, the door zone saw motion recently, and the occupant's wearable
// went silent (no temperature in the recent window) or its RSSI fell RSSIDrop below its half-hour median. door
// reports the night door motion alone (for the report's door events).
func PossibleLeave(c SignalConfig, now time.Time, in LeaveInputs) (door, leave bool) {
	c = c.withDefaults()
	if !in.Night {
		return false, false
	}
	since := now.Add(-c.Recent)
	for _, p := range in.Motion {
		if !p.T.Before(since) && p.V > c.MotionThreshold {
			door = true
			break
		}
	}
	if !door {
		return false, false
	}
	if _, ok := latest(in.Temps, since); !ok {
		return true, true
	}
	last, ok := latest(in.RSSI, since)
	if !ok || len(in.RSSI) < 5 {
		return true, false
	}
	vals := make([]float64, len(in.RSSI))
	for i, p := range in.RSSI {
		vals[i] = p.V
	}
	sort.Float64s(vals)
	return true, last.V <= vals[len(vals)/2]-c.RSSIDrop
}

// latest is the newest point at or after since.
func latest(ps []Point, since time.Time) (Point, bool) {
	var best Point
	ok := false
	for _, p := range ps {
		if !p.T.Before(since) && (!ok || p.T.After(best.T)) {
			best, ok = p, true
		}
	}
	return best, ok
}
