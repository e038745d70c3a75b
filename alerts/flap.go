package alerts

import (
	"fmt"
	"slices"
	"time"
)

// Flap notification policies (FlapPolicy.Notify).
const (
	// FlapNotifyTransitions sends one notification when an alert starts flapping (a firing notification with
	// Flapping set) and one when it settles (resolved, or a reminder without Flapping if it settled firing).
	FlapNotifyTransitions = "transitions"
	// FlapNotifyNone mutes a flapping alert as a silence would; only a resolve owed to an earlier firing
	// notification is sent when it settles.
	FlapNotifyNone = "none"
)

// FlapPolicy configures flap detection, as Nagios' flap detection does for service checks: an alert that
// fires Count times within Window is flapping. A flapping alert stays one firing alert through the short
// recoveries (no new alert, no resolve per flap) until its condition has neither started nor stopped holding
// for Window; then it settles: it resolves if the condition does not hold, or stays firing as a plain alert.
type FlapPolicy struct {
	// Count is how many fires within Window make an alert flapping. It defaults to 3; a negative value turns
	// flap detection off.
	Count int
	// Window is the detection window, and how long a flapping alert must be steady to settle. It defaults
	// to 10m.
	Window time.Duration
	// Notify is FlapNotifyTransitions or FlapNotifyNone. It defaults to "transitions".
	Notify string
}

func (p FlapPolicy) validate() error {
	switch {
	case p.Window < 0:
		return fmt.Errorf("flap_window: must be >= 0, got %q", p.Window)
	case p.Notify != "" && p.Notify != FlapNotifyTransitions && p.Notify != FlapNotifyNone:
		return fmt.Errorf("flap_notify: must be %q or %q, got %q", FlapNotifyTransitions, FlapNotifyNone, p.Notify)
	}
	return nil
}

// over returns p with its zero fields taken from def, then from the built-in defaults.
func (p FlapPolicy) over(def FlapPolicy) FlapPolicy {
	if p.Count == 0 {
		p.Count = def.Count
	}
	if p.Count == 0 {
		p.Count = 3
	}
	if p.Window == 0 {
		p.Window = def.Window
	}
	if p.Window == 0 {
		p.Window = 10 * time.Minute
	}
	if p.Notify == "" {
		p.Notify = def.Notify
	}
	if p.Notify == "" {
		p.Notify = FlapNotifyTransitions
	}
	return p
}

// maxFlapKeys bounds the fingerprints whose fire times a rule remembers; beyond it, detection starts over for
// new fingerprints (counted nowhere: it only delays detection).
const maxFlapKeys = 10000

// recordFire notes that alert a of rule rs fired at now, in the staged fire times flaps, and marks the alert
// flapping when it is the Count-th fire within Window.
func recordFire(flaps map[string][]time.Time, p FlapPolicy, a *Alert, now time.Time) {
	if p.Count < 0 {
		return
	}
	fires := slices.DeleteFunc(slices.Clone(flaps[a.Fingerprint]), func(t time.Time) bool {
		return now.Sub(t) >= p.Window
	})
	fires = append(fires, now)
	if len(fires) > p.Count {
		fires = fires[len(fires)-p.Count:]
	}
	if _, ok := flaps[a.Fingerprint]; ok || len(flaps) < maxFlapKeys {
		flaps[a.Fingerprint] = fires
	}
	if len(fires) >= p.Count {
		a.Flapping, a.FlapCount, a.flapEdge, a.flapAbsent, a.dirty = true, len(fires), now, false, true
		a.flapMuted = p.Notify == FlapNotifyNone
	}
}

// pruneFlaps forgets fire times older than the window.
func pruneFlaps(flaps map[string][]time.Time, p FlapPolicy, now time.Time) {
	for fp, fires := range flaps {
		if len(fires) == 0 || now.Sub(fires[len(fires)-1]) >= p.Window {
			delete(flaps, fp)
		}
	}
}

// flapPresent updates flapping alert a whose condition holds at now: a return of the condition counts as
// another fire; a steady Window settles the alert, which stays firing.
func flapPresent(a *Alert, p FlapPolicy, now time.Time) {
	if a.flapAbsent {
		a.flapAbsent, a.flapEdge, a.FlapCount, a.dirty = false, now, a.FlapCount+1, true
		return
	}
	if now.Sub(a.flapEdge) >= p.Window {
		a.Flapping, a.flapMuted, a.dirty = false, false, true
		a.flapSettled = p.Notify == FlapNotifyTransitions && a.NotifiedState == string(StateFiring)
	}
}

// flapAbsentKeep updates flapping alert a whose condition does not hold at now and reports whether it is
// kept firing; false means it settled and is to resolve.
func flapAbsentKeep(a *Alert, p FlapPolicy, now time.Time) bool {
	if !a.flapAbsent {
		// Saved, so that a restart tells from LastEval after lastActiveAt that the condition was absent.
		a.flapAbsent, a.flapEdge, a.dirty = true, now, true
	}
	if now.Sub(a.flapEdge) < p.Window {
		a.LastEval = now
		return true
	}
	a.Flapping, a.flapMuted, a.dirty = false, false, true
	return false
}
