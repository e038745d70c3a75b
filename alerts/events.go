package alerts

import (
	"strings"
	"time"
)

// activeItem is one series or event key whose condition holds at evaluation time.
type activeItem struct {
	labels map[string]string
	value  float64
	since  time.Time // zero: since this evaluation
}

// eventState is the state of one event rule: one entry per key (By labels), bounded.
type eventState struct {
	rule    *compiledRule
	max     int
	entries map[string]*eventEntry
}

type eventEntry struct {
	labels map[string]string
	active bool
	since  time.Time
	last   time.Time
	value  float64
	counts []bucket // ingest_rejected: per-second counts, oldest first
}

type bucket struct {
	sec int64
	n   float64
}

func newEventState(c *compiledRule, maxKeys int) *eventState {
	return &eventState{rule: c, max: maxKeys, entries: map[string]*eventEntry{}}
}

func (s *eventState) keyOf(lbls map[string]string) (string, map[string]string) {
	out := make(map[string]string, len(s.rule.by))
	var b strings.Builder
	for _, l := range s.rule.by {
		v := lbls[l]
		if v != "" {
			out[l] = v
		}
		b.WriteString(v)
		b.WriteByte(0xff)
	}
	return b.String(), out
}

// entry returns the entry for lbls, creating it unless create is false; nil when absent or over the bound.
func (s *eventState) entry(lbls map[string]string, create bool) (*eventEntry, bool) {
	k, kl := s.keyOf(lbls)
	if e, ok := s.entries[k]; ok {
		return e, true
	}
	if !create {
		return nil, true
	}
	if len(s.entries) >= s.max {
		return nil, false
	}
	e := &eventEntry{labels: kl}
	s.entries[k] = e
	return e, true
}

func (s *eventState) matches(ev *Event) bool {
	if ev.Kind != eventKinds[s.rule.Event.Kind].event {
		return false
	}
	for k, v := range s.rule.Event.Match {
		if ev.Labels[k] != v {
			return false
		}
	}
	return true
}

// apply updates the state with ev. It returns false if the event had to be dropped (too many keys).
func (s *eventState) apply(ev *Event) bool {
	if !s.matches(ev) {
		return true
	}
	switch s.rule.Event.Kind {
	case EventCameraOffline:
		switch ev.Labels["state"] {
		case "online":
			if e, _ := s.entry(ev.Labels, false); e != nil {
				e.active = false
			}
		case "offline", "stalled", "unauthorized":
			e, ok := s.entry(ev.Labels, true)
			if !ok {
				return false
			}
			if !e.active {
				e.active, e.since = true, ev.Time
			}
		}
	case EventCameraTamper:
		if ev.Value == 0 {
			if e, _ := s.entry(ev.Labels, false); e != nil {
				e.active = false
			}
			return true
		}
		e, ok := s.entry(ev.Labels, true)
		if !ok {
			return false
		}
		if !e.active {
			e.active, e.since = true, ev.Time
		}
		e.value = ev.Value
	case EventZoneMotion:
		if ev.Value <= s.rule.Event.Threshold || !s.rule.schedule.contains(ev.Time) {
			return true
		}
		e, ok := s.entry(ev.Labels, true)
		if !ok {
			return false
		}
		if !e.active || ev.Time.Sub(e.last) >= s.rule.window() {
			e.since = ev.Time
		}
		e.active = true
		if ev.Time.After(e.last) {
			e.last = ev.Time
		}
		e.value = ev.Value
	case EventDeviceSilent:
		e, ok := s.entry(ev.Labels, true)
		if !ok {
			return false
		}
		if ev.Time.After(e.last) {
			e.last = ev.Time
		}
	case EventIngestRejected:
		e, ok := s.entry(ev.Labels, true)
		if !ok {
			return false
		}
		n := ev.Value
		if n <= 0 {
			n = 1
		}
		sec := ev.Time.Unix()
		if l := len(e.counts); l > 0 && e.counts[l-1].sec >= sec {
			e.counts[l-1].n += n // late or same-second events count in the newest bucket
		} else {
			e.counts = append(e.counts, bucket{sec: sec, n: n})
		}
		e.prune(ev.Time, s.rule.window())
	case EventIngestStalled:
		e, ok := s.entry(ev.Labels, true)
		if !ok {
			return false
		}
		if ev.Time.Before(e.last) {
			return true // an older status than the one applied
		}
		e.last, e.value = ev.Time, ev.Value
		stalled := ev.Value >= s.rule.window().Seconds()
		if stalled && !e.active {
			e.since = ev.Time
		}
		e.active = stalled
	}
	return true
}

func (e *eventEntry) prune(now time.Time, window time.Duration) {
	cut := now.Add(-window).Unix()
	i := 0
	for i < len(e.counts) && e.counts[i].sec <= cut {
		i++
	}
	e.counts = e.counts[i:]
}

// active returns the keys whose condition holds at now, and forgets keys that are idle.
func (s *eventState) active(now time.Time) []activeItem {
	var out []activeItem
	window := s.rule.window()
	for k, e := range s.entries {
		switch s.rule.Event.Kind {
		case EventCameraOffline:
			if !e.active {
				delete(s.entries, k)
				continue
			}
			out = append(out, activeItem{labels: e.labels, value: max(now.Sub(e.since).Seconds(), 0), since: e.since})
		case EventCameraTamper:
			if !e.active {
				delete(s.entries, k)
				continue
			}
			out = append(out, activeItem{labels: e.labels, value: e.value, since: e.since})
		case EventZoneMotion:
			if !e.active || now.Sub(e.last) >= window {
				delete(s.entries, k)
				continue
			}
			out = append(out, activeItem{labels: e.labels, value: e.value, since: e.since})
		case EventDeviceSilent:
			if silent := now.Sub(e.last); silent >= window {
				out = append(out, activeItem{labels: e.labels, value: silent.Seconds(), since: e.last.Add(window)})
			}
		case EventIngestRejected:
			e.prune(now, window)
			var sum float64
			for _, b := range e.counts {
				sum += b.n
			}
			th := s.rule.Event.Threshold
			if th <= 0 {
				th = 1
			}
			if sum < th {
				e.active = false
				if len(e.counts) == 0 {
					delete(s.entries, k)
				}
				continue
			}
			if !e.active {
				e.active, e.since = true, now
			}
			out = append(out, activeItem{labels: e.labels, value: sum, since: e.since})
		case EventIngestStalled:
			if !e.active {
				continue // kept: its last status time orders late events (one key per pipeline, bounded by max)
			}
			out = append(out, activeItem{labels: e.labels, value: e.value, since: e.since})
		}
	}
	return out
}

// seed restores the state behind an alert loaded from the database after a restart, so that the alert
// does not resolve merely because the manager forgot the events that raised it. It resolves when a new
// event says so (camera online, tamper cleared, device seen) or its window passes.
func (s *eventState) seed(a *Alert) {
	e, ok := s.entry(a.Labels, true)
	if !ok {
		return
	}
	last := a.lastActiveAt
	if last.IsZero() {
		last = a.ActiveAt
	}
	switch s.rule.Event.Kind {
	case EventCameraOffline, EventCameraTamper, EventIngestStalled:
		e.active, e.since, e.value = true, a.ActiveAt, nanToZero(a.Value)
	case EventZoneMotion:
		e.active, e.since, e.last, e.value = true, a.ActiveAt, last, nanToZero(a.Value)
	case EventDeviceSilent:
		if e.last.IsZero() {
			e.last = a.ActiveAt.Add(-s.rule.window())
		}
	case EventIngestRejected:
		th := max(s.rule.Event.Threshold, 1)
		e.active, e.since = true, a.ActiveAt
		e.counts = []bucket{{sec: last.Unix(), n: th}}
	}
}
