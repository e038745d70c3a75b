package analyze

import (
	"math"
	"time"

	"citywatch/cameras/zone"
)

// polygonArea returns the absolute area of poly, in relative units.
func polygonArea(poly [][2]float64) float64 { return zone.Area(poly) }

// pointInPolygon reports whether (x, y) lies inside poly by the even-odd rule.
func pointInPolygon(x, y float64, poly [][2]float64) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		xi, yi := poly[i][0], poly[i][1]
		xj, yj := poly[j][0], poly[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

// polygonMask returns the indices of the pixels of a w×h picture whose centres lie inside poly. A polygon
// too small to contain any pixel centre gets the pixel nearest to its first vertex, so its zone still scores.
func polygonMask(poly [][2]float64, w, h int) []int32 {
	if w <= 0 || h <= 0 || len(poly) < 3 {
		return nil
	}
	var idx []int32
	for y := range h {
		fy := (float64(y) + 0.5) / float64(h)
		for x := range w {
			if pointInPolygon((float64(x)+0.5)/float64(w), fy, poly) {
				idx = append(idx, int32(y*w+x))
			}
		}
	}
	if len(idx) == 0 {
		x := min(max(int(poly[0][0]*float64(w)), 0), w-1)
		y := min(max(int(poly[0][1]*float64(h)), 0), h-1)
		idx = []int32{int32(y*w + x)}
	}
	return idx
}

// meanAbsDiff returns the mean absolute difference of a and b, 0..1, over the pixels in idx (all pixels when
// idx is nil). Per-pixel differences of noise grey levels or less count as zero.
func meanAbsDiff(a, b []byte, idx []int32, noise int) float64 {
	n := min(len(a), len(b))
	if n == 0 {
		return 0
	}
	var sum, cnt int
	add := func(i int) {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		if d > noise {
			sum += d
		}
	}
	if idx == nil {
		for i := range n {
			add(i)
		}
		cnt = n
	} else {
		for _, i := range idx {
			if int(i) < n {
				add(int(i))
				cnt++
			}
		}
	}
	if cnt == 0 {
		return 0
	}
	return float64(sum) / float64(cnt) / 255
}

// lumaStats returns the mean and variance of pix, scaled to 0..1.
func lumaStats(pix []byte) (mean, variance float64) {
	if len(pix) == 0 {
		return 0, 0
	}
	var sum, sq uint64
	for _, v := range pix {
		sum += uint64(v)
		sq += uint64(v) * uint64(v)
	}
	n := float64(len(pix))
	m := float64(sum) / n
	variance = float64(sq)/n - m*m
	return m / 255, max(variance, 0) / (255 * 255)
}

// lumaStatsAt is lumaStats over the pixels idx of pix (all pixels when idx is nil).
func lumaStatsAt(pix []byte, idx []int32) (mean, variance float64) {
	if idx == nil {
		return lumaStats(pix)
	}
	var sum, sq uint64
	var n int
	for _, i := range idx {
		if int(i) < len(pix) {
			v := uint64(pix[i])
			sum += v
			sq += v * v
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	m := float64(sum) / float64(n)
	variance = float64(sq)/float64(n) - m*m
	return m / 255, max(variance, 0) / (255 * 255)
}

// hysteresis turns a score into an on/off state: on after onN consecutive scores above on, off after offN
// consecutive scores below off.
type hysteresis struct {
	on, off   float64
	onN, offN int
	active    bool
	run       int
}

// update feeds one score and reports whether the state changed.
func (h *hysteresis) update(score float64) bool {
	var toward bool
	if h.active {
		toward = score < h.off
	} else {
		toward = score > h.on
	}
	if !toward {
		h.run = 0
		return false
	}
	h.run++
	need := h.onN
	if h.active {
		need = h.offN
	}
	if h.run < need {
		return false
	}
	h.active = !h.active
	h.run = 0
	return true
}

// debounce turns a per-frame condition into a state that changes only after the condition has held
// (differed from the state) for a duration: setAfter to become active, clearAfter to clear.
type debounce struct {
	active  bool
	pending bool
	since   time.Time
}

// update feeds the condition at t and reports whether the state changed.
func (d *debounce) update(cond bool, t time.Time, setAfter, clearAfter time.Duration) bool {
	if cond == d.active {
		d.pending = false
		return false
	}
	if !d.pending {
		d.pending = true
		d.since = t
	}
	after := setAfter
	if d.active {
		after = clearAfter
	}
	if t.Sub(d.since) < after {
		return false
	}
	d.active = cond
	d.pending = false
	return true
}

// gradient writes the edge strength |dx|+|dy| of the w×h picture src into dst (len w*h); borders are 0.
func gradient(src []float32, w, h int, dst []float32) {
	clear(dst)
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			i := y*w + x
			dx := src[i+1] - src[i-1]
			dy := src[i+w] - src[i-w]
			dst[i] = float32(math.Abs(float64(dx)) + math.Abs(float64(dy)))
		}
	}
}

// Grid of cells compared by movedScore.
const (
	movedCellsX = 8
	movedCellsY = 6
	// textureMin is the mean edge strength (grey levels) above which a cell has structure worth comparing.
	textureMin = 3
	// cellMatch is the edge correlation at or above which a cell still matches the reference.
	cellMatch = 0.5
	// minTexturedShare: below this share of textured cells the scene is too flat to judge (covered, black).
	minTexturedShare = 0.25
)

// movedScore compares the edge images ref and cur (w×h) cell by cell and returns the share of textured cells
// that no longer match: their normalised cross-correlation is below cellMatch, or only one of the two has
// structure. It returns 0 when too few cells are textured to judge.
func movedScore(ref, cur []float32, w, h int) float64 {
	if w < movedCellsX || h < movedCellsY || len(ref) < w*h || len(cur) < w*h {
		return 0
	}
	var textured, changed int
	for cy := range movedCellsY {
		y0, y1 := cy*h/movedCellsY, (cy+1)*h/movedCellsY
		for cx := range movedCellsX {
			x0, x1 := cx*w/movedCellsX, (cx+1)*w/movedCellsX
			ncc, refT, curT := cellCorrelation(ref, cur, w, x0, x1, y0, y1)
			if !refT && !curT {
				continue
			}
			textured++
			if refT != curT || ncc < cellMatch {
				changed++
			}
		}
	}
	if float64(textured) < minTexturedShare*movedCellsX*movedCellsY {
		return 0
	}
	return float64(changed) / float64(textured)
}

// cellCorrelation returns the normalised cross-correlation of a and b over one cell, and whether each has
// texture (a mean edge strength of at least textureMin).
func cellCorrelation(a, b []float32, w, x0, x1, y0, y1 int) (ncc float64, aT, bT bool) {
	var sa, sb, saa, sbb, sab float64
	n := float64((x1 - x0) * (y1 - y0))
	if n <= 0 {
		return 0, false, false
	}
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			va, vb := float64(a[y*w+x]), float64(b[y*w+x])
			sa += va
			sb += vb
			saa += va * va
			sbb += vb * vb
			sab += va * vb
		}
	}
	aT, bT = sa/n >= textureMin, sb/n >= textureMin
	cov := sab/n - (sa/n)*(sb/n)
	va := saa/n - (sa/n)*(sa/n)
	vb := sbb/n - (sb/n)*(sb/n)
	if va <= 1e-9 || vb <= 1e-9 {
		return 0, aT, bT
	}
	return cov / math.Sqrt(va*vb), aT, bT
}
