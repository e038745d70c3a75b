package analyze

import (
	"time"
)

// detector holds the analysis state of one camera: the previous analysed frame, the motion hysteresis per
// zone, the tamper states and the learned reference. It is used by one goroutine at a time.
type detector struct {
	cfg   CameraConfig
	w, h  int
	masks [][]int32
	// hidden marks the privacy-masked pixels (nil: none); visible lists the others (nil: all).
	hidden  []bool
	visible []int32
	painted []byte // the frame with hidden pixels set to 0
	prev    []byte
	hyst    []hysteresis
	noise   int

	tamper map[string]*debounce

	ref      []float32 // learned reference luma
	refN     int       // frames learned
	refEdges []float32
	cur      []float32
	curEdges []float32
}

// change is one state change found in a frame.
type change struct {
	kind, zone, tamper string
	active             bool
	score              float64
}

// frameResult is what one analysed frame yields.
type frameResult struct {
	motion  []float64 // per zone, in cfg.Zones order; nil for the first frame after a reset
	tamper  map[string]bool
	changes []change
	luma    float64
	moved   float64
}

func newDetector(cfg CameraConfig) *detector {
	d := &detector{cfg: cfg, noise: int(cfg.MotionPixelNoise * 255), tamper: map[string]*debounce{}}
	d.hyst = make([]hysteresis, len(cfg.Zones))
	for i := range d.hyst {
		d.hyst[i] = hysteresis{on: cfg.MotionThreshold, off: cfg.MotionOffThreshold, onN: cfg.MotionOnFrames, offN: cfg.MotionOffFrames}
	}
	for _, k := range tamperKinds {
		d.tamper[k] = &debounce{}
	}
	return d
}

// resize prepares for w×h frames. A new size (a new stream resolution) restarts learning the reference: the
// old one describes another picture geometry.
func (d *detector) resize(w, h int) {
	if w == d.w && h == d.h {
		return
	}
	d.w, d.h = w, h
	d.hidden, d.visible, d.painted = d.cfg.PrivacyMask.Bitmap(w, h), nil, nil
	if d.hidden != nil {
		d.visible = make([]int32, 0, w*h)
		for i, hid := range d.hidden {
			if !hid {
				d.visible = append(d.visible, int32(i))
			}
		}
		d.painted = make([]byte, w*h)
	}
	d.masks = make([][]int32, len(d.cfg.Zones))
	for i, z := range d.cfg.Zones {
		d.masks[i] = d.withoutHidden(polygonMask(z.Polygon, w, h))
	}
	d.prev = nil
	d.ref, d.refN = nil, 0
	d.refEdges = make([]float32, w*h)
	d.cur = make([]float32, w*h)
	d.curEdges = make([]float32, w*h)
}

// withoutHidden drops the privacy-masked pixels from a zone's pixel list. A zone entirely behind the mask
// keeps an empty, non-nil list (nil would mean the whole picture) and never scores.
func (d *detector) withoutHidden(idx []int32) []int32 {
	if d.hidden == nil {
		return idx
	}
	out := make([]int32, 0, len(idx))
	for _, i := range idx {
		if int(i) < len(d.hidden) && !d.hidden[i] {
			out = append(out, i)
		}
	}
	return out
}

// paint returns pix with the privacy-masked pixels set to 0, so nothing behind the mask reaches the
// frozen, moved or learned-reference computations; pix itself when there is no mask.
func (d *detector) paint(pix []byte) []byte {
	if d.hidden == nil || len(pix) < len(d.hidden) {
		return pix
	}
	copy(d.painted, pix)
	for i, hid := range d.hidden {
		if hid {
			d.painted[i] = 0
		}
	}
	return d.painted
}

// resetPrev forgets the previous frame, after a decoder restart or session change: a difference across a gap
// in the stream is not motion, and is not evidence of a frozen picture either.
func (d *detector) resetPrev() { d.prev = nil }

// analyse scores one w×h grey frame taken at t.
func (d *detector) analyse(pix []byte, t time.Time) frameResult {
	var r frameResult
	r.tamper = make(map[string]bool, len(tamperKinds))
	pix = d.paint(pix)
	mean, variance := lumaStatsAt(pix, d.visible)
	r.luma = mean
	black := mean < d.cfg.BlackLuma
	covered := !black && variance < d.cfg.CoveredVariance

	frozen := false
	if d.prev != nil {
		r.motion = make([]float64, len(d.masks))
		for i, m := range d.masks {
			s := meanAbsDiff(d.prev, pix, m, d.noise)
			r.motion[i] = s
			if d.hyst[i].update(s) {
				r.changes = append(r.changes, change{kind: KindMotion, zone: d.cfg.Zones[i].Name, active: d.hyst[i].active, score: s})
			}
		}
		// A black or flat picture does not change by nature; it is reported as what it is, not as frozen.
		frozen = !black && !covered && meanAbsDiff(d.prev, pix, d.visible, 0) < d.cfg.FrozenDiff
	}
	if d.prev != nil {
		d.tamperUpdate(&r, TamperFrozen, frozen, t, d.cfg.FrozenAfter, 0, 0)
	}
	d.tamperUpdate(&r, TamperBlack, black, t, d.cfg.TamperAfter, d.cfg.TamperAfter, mean)
	d.tamperUpdate(&r, TamperCovered, covered, t, d.cfg.TamperAfter, d.cfg.TamperAfter, variance)

	r.moved = d.movedUpdate(pix, black || covered)
	moved := r.moved > d.cfg.MovedThreshold
	d.tamperUpdate(&r, TamperMoved, moved, t, d.cfg.MovedAfter, d.cfg.TamperAfter, r.moved)

	for _, k := range tamperKinds {
		r.tamper[k] = d.tamper[k].active
	}
	if d.prev == nil {
		d.prev = make([]byte, len(pix))
	}
	copy(d.prev, pix)
	return r
}

func (d *detector) tamperUpdate(r *frameResult, kind string, cond bool, t time.Time, setAfter, clearAfter time.Duration, score float64) {
	if d.tamper[kind].update(cond, t, setAfter, clearAfter) {
		r.changes = append(r.changes, change{kind: KindTamper, tamper: kind, active: d.tamper[kind].active, score: score})
	}
}

// movedUpdate learns the reference and returns the moved score of pix against it (0 while learning). Flat
// pictures (black, covered) neither teach the reference nor count as moved.
func (d *detector) movedUpdate(pix []byte, flat bool) float64 {
	n := d.w * d.h
	if len(pix) < n || n == 0 {
		return 0
	}
	for i := range n {
		d.cur[i] = float32(pix[i])
	}
	if flat {
		return 0
	}
	if d.ref == nil {
		d.ref = make([]float32, n)
		copy(d.ref, d.cur)
		d.refN = 1
		return 0
	}
	if d.refN < d.cfg.LearnFrames {
		d.refN++
		blend(d.ref, d.cur, 1/float32(d.refN))
		return 0
	}
	gradient(d.ref, d.w, d.h, d.refEdges)
	gradient(d.cur, d.w, d.h, d.curEdges)
	score := movedScore(d.refEdges, d.curEdges, d.w, d.h)
	if score <= d.cfg.MovedThreshold && !d.tamper[TamperMoved].active {
		blend(d.ref, d.cur, float32(d.cfg.ReferenceRate))
	}
	return score
}

// blend moves ref toward cur by weight a.
func blend(ref, cur []float32, a float32) {
	for i := range ref {
		ref[i] += (cur[i] - ref[i]) * a
	}
}
