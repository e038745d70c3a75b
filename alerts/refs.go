package alerts

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// CameraRef is what the event rules may refer to about a camera: its id and the names of its motion zones
// (the analyzer's "all" zone when it has none).
type CameraRef struct {
	ID    string
	Zones []string
}

// cameraEventRules are the event rule kinds fed by camera events, whose "camera" label is a camera id.
var cameraEventRules = map[EventRuleKind]bool{EventCameraOffline: true, EventCameraTamper: true, EventZoneMotion: true}

// CheckCameraRefs reports event rules whose match names a camera or a motion zone that no camera has: such a
// rule can never fire, which is a silent failure, so it is a load error like a bad expression. A zone must
// exist on the matched camera, or on any camera when the rule matches no camera. Errors carry the rule's
// file:line.
func CheckCameraRefs(rules []Rule, cams []CameraRef) error {
	byID := make(map[string]CameraRef, len(cams))
	ids := make([]string, 0, len(cams))
	for _, c := range cams {
		byID[c.ID] = c
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	var errs []error
	for i := range rules {
		r := &rules[i]
		if r.Event == nil || !cameraEventRules[r.Event.Kind] {
			continue
		}
		id, hasCam := r.Event.Match["camera"]
		cam, known := byID[id]
		if hasCam && !known {
			errs = append(errs, r.errorf("match.camera: unknown camera %q (%s)", id, listOf("cameras", ids)))
			continue
		}
		zone, hasZone := r.Event.Match["zone"]
		if !hasZone || r.Event.Kind != EventZoneMotion {
			continue
		}
		if hasCam {
			if !slices.Contains(cam.Zones, zone) {
				errs = append(errs, r.errorf("match.zone: camera %q has no zone %q (%s)", id, zone, listOf("zones", sorted(cam.Zones))))
			}
			continue
		}
		var all []string
		for _, c := range cams {
			all = append(all, c.Zones...)
		}
		if !slices.Contains(all, zone) {
			errs = append(errs, r.errorf("match.zone: no camera has zone %q (%s)", zone, listOf("zones", sorted(all))))
		}
	}
	return errors.Join(errs...)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// listOf names the configured choices, or says there are none.
func listOf(what string, names []string) string {
	if len(names) == 0 {
		return "no " + what + " are configured"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return what + ": " + strings.Join(q, ", ")
}
