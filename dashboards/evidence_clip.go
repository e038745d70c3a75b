package dashboards

import (
	"time"

	"citywatch/cameras/media"
)

// alertClipWindow is how far from an alert's start a clip still shows it on the camera timeline: the alert
// detail page lists the clips within the same distance of the alert (views/alert.js, around).
const alertClipWindow = 2 * time.Minute

// alertClip is the ID of the finished clip whose first event is nearest at, within alertClipWindow either
// side (the earlier of two as near), or "". A clip still recording is passed over: it has no thumbnail yet.
// The timeline shows that clip's thumbnail beside the alert, as it does beside a motion event: the alert
// itself keeps no picture, and a snapshot taken now would show the camera now, not at the alert.
func alertClip(clips []media.Clip, at time.Time) string {
	best, bestD := "", time.Duration(0)
	for _, c := range clips {
		if c.Recording {
			continue
		}
		d := c.EventTime.Sub(at).Abs()
		if d > alertClipWindow {
			continue
		}
		if best == "" || d < bestD || (d == bestD && c.EventTime.Before(at)) {
			best, bestD = c.ID, d
		}
	}
	return best
}
