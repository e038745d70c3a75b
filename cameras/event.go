package cameras

import "time"

// Event reports a camera state change.
type Event struct {
	// CameraID is the camera's configured ID.
	CameraID string
	// Site is the camera's site.
	Site string
	// From and To are the states before and after the change.
	From, To State
	// Reason is the human reason of the new state (sanitized: never contains credentials).
	Reason string
	// Time is when the change was detected.
	Time time.Time
	// OutageDuration, on recovery (a change to online or degraded after the camera stopped streaming), is
	// how long video was missing: from the first non-streaming state to Time. It is 0 otherwise.
	OutageDuration time.Duration
}
