package media

import (
	"time"

	"citywatch/cameras"
)

// auOverhead is the memory accounted per buffered access unit beyond its NAL unit bytes (the AccessUnit
// struct and slice headers), so a stream of tiny frames is bounded too.
const auOverhead = 128

// auBytes is the memory accounted for one access unit.
func auBytes(au cameras.AccessUnit) int64 {
	n := int64(auOverhead)
	for _, nalu := range au.NALUs {
		n += int64(len(nalu)) + 24
	}
	return n
}

// gop is a keyframe and the access units that follow it up to the next keyframe.
type gop struct {
	aus   []cameras.AccessUnit
	bytes int64
}

func (g *gop) startPTS() int64      { return g.aus[0].PTS }
func (g *gop) lastPTS() int64       { return g.aus[len(g.aus)-1].PTS }
func (g *gop) startTime() time.Time { return g.aus[0].Time }

// ring holds whole GOPs of one camera's current session, bounded by stream time and bytes. It is not safe
// for concurrent use: the camera's mutex guards it.
type ring struct {
	maxPTS   int64 // in 90 kHz units
	maxBytes int64

	gops    []*gop
	bytes   int64
	session uint64
	waitKey bool // the current GOP was discarded: skip until the next keyframe

	evicted   uint64 // GOPs evicted for time or size
	oversized uint64 // GOPs discarded because one GOP alone exceeds maxBytes
	skipped   uint64 // access units skipped while waiting for a keyframe
}

func newRing(seconds float64, maxBytes int64) *ring {
	return &ring{maxPTS: int64(seconds * 90000), maxBytes: maxBytes}
}

// reset empties the ring for a new session.
func (r *ring) reset(session uint64) {
	r.gops, r.bytes, r.session, r.waitKey = nil, 0, session, false
}

// push appends au, starting a GOP at each keyframe, and evicts the oldest GOPs beyond the bounds. A
// session change resets the ring first.
func (r *ring) push(au cameras.AccessUnit) {
	if au.Session != r.session {
		r.reset(au.Session)
	}
	if au.Keyframe {
		r.waitKey = false
		r.gops = append(r.gops, &gop{})
	} else if len(r.gops) == 0 || r.waitKey {
		r.skipped++
		return
	}
	g := r.gops[len(r.gops)-1]
	n := auBytes(au)
	g.aus = append(g.aus, au)
	g.bytes += n
	r.bytes += n
	r.evict()
}

func (r *ring) evict() {
	for len(r.gops) > 1 {
		last := r.gops[len(r.gops)-1]
		if r.bytes <= r.maxBytes && last.lastPTS()-r.gops[0].startPTS() <= r.maxPTS {
			break
		}
		r.bytes -= r.gops[0].bytes
		r.gops[0] = nil
		r.gops = r.gops[1:]
		r.evicted++
	}
	if len(r.gops) == 1 && r.bytes > r.maxBytes {
		// One GOP larger than the whole budget: keep nothing rather than break the bound.
		r.gops, r.bytes, r.waitKey = nil, 0, true
		r.oversized++
	}
}

// latestGOP returns the access units of the most recent GOP (nil when empty). The slice must not be
// modified.
func (r *ring) latestGOP() []cameras.AccessUnit {
	if len(r.gops) == 0 {
		return nil
	}
	g := r.gops[len(r.gops)-1].aus
	return g[:len(g):len(g)]
}

// since returns the access units from the latest GOP that starts at or before t (or from the oldest GOP
// when none does), to the newest.
func (r *ring) since(t time.Time) []cameras.AccessUnit {
	if len(r.gops) == 0 {
		return nil
	}
	start := 0
	for i, g := range r.gops {
		if g.startTime().After(t) {
			break
		}
		start = i
	}
	var out []cameras.AccessUnit
	for _, g := range r.gops[start:] {
		out = append(out, g.aus...)
	}
	return out
}

// gopStarts returns the PTS of each buffered GOP's keyframe, oldest first (for tests and status).
func (r *ring) gopStarts() []int64 {
	out := make([]int64, len(r.gops))
	for i, g := range r.gops {
		out[i] = g.startPTS()
	}
	return out
}
