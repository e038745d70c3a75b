// Package privacymask burns privacy masks into pictures. A mask is a list of polygons in relative coordinates
// (0..1, origin at the top left: the same form as motion zones) painted opaque black, so what they cover never
// leaves the server in a snapshot, an event clip or an export. It is a leaf package: pure functions over
// pixels, no I/O, no clock.
package privacymask

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Limits on masks, so per-frame work stays bounded.
const (
	// MaxPolygons is the most polygons of one camera's mask.
	MaxPolygons = 16
	// MaxPoints is the most vertices of one polygon.
	MaxPoints = 64
	// MaxPixels bounds the pictures painted (w*h): a larger picture claimed by a camera is refused, not
	// decoded, so a hostile header cannot make the server allocate gigabytes.
	MaxPixels = 64 << 20
)

// ErrTooLarge means a picture's size exceeds MaxPixels or is not positive.
var ErrTooLarge = errors.New("privacymask: picture size out of range")

// Polygon lists at least 3 vertices as relative [x, y] coordinates, 0..1, origin at the top left.
type Polygon = [][2]float64

// Mask is a camera's privacy masks. The zero value masks nothing.
type Mask []Polygon

// Empty reports whether the mask covers nothing.
func (m Mask) Empty() bool { return len(m) == 0 }

// Validate reports the first problem of the mask, naming the polygon and the bad value.
func (m Mask) Validate() error {
	if len(m) > MaxPolygons {
		return fmt.Errorf("at most %d polygons, got %d", MaxPolygons, len(m))
	}
	for i, p := range m {
		if n := len(p); n < 3 || n > MaxPoints {
			return fmt.Errorf("[%d]: must have 3..%d points, got %d", i, MaxPoints, n)
		}
		for j, v := range p {
			if math.IsNaN(v[0]) || math.IsNaN(v[1]) || v[0] < 0 || v[0] > 1 || v[1] < 0 || v[1] > 1 {
				return fmt.Errorf("[%d][%d]: coordinates must be in 0..1, got [%v, %v]", i, j, v[0], v[1])
			}
		}
	}
	return nil
}

// Bitmap returns, for a w×h picture, which pixels the mask covers (index y*w+x). It errs on the side of
// privacy: a pixel is covered when any part of its inside belongs to a polygon (the polygon's edge crosses
// it, or its centre lies inside), so a mask edge never leaves a half-covered pixel unpainted and a sliver
// thinner than a pixel still covers the pixels it passes. It returns nil for an empty mask or a size out of
// range.
func (m Mask) Bitmap(w, h int) []bool {
	if m.Empty() || w <= 0 || h <= 0 || w*h > MaxPixels {
		return nil
	}
	out := make([]bool, w*h)
	for _, p := range m {
		paintPolygon(out, p, w, h)
	}
	return out
}

// Covered returns the number of pixels set in a bitmap.
func Covered(bits []bool) int {
	n := 0
	for _, b := range bits {
		if b {
			n++
		}
	}
	return n
}

// paintPolygon marks the pixels an edge of p passes through (conservative rasterisation of the outline), then
// the pixels whose centre lies inside p (the interior, where no edge passes).
func paintPolygon(out []bool, p Polygon, w, h int) {
	if len(p) < 3 {
		return
	}
	fw, fh := float64(w), float64(h)
	minY, maxY := math.Inf(1), math.Inf(-1)
	minX, maxX := math.Inf(1), math.Inf(-1)
	for i := range p {
		a, b := p[i], p[(i+1)%len(p)]
		ax, ay, bx, by := a[0]*fw, a[1]*fh, b[0]*fw, b[1]*fh
		minX, maxX = math.Min(minX, ax), math.Max(maxX, ax)
		minY, maxY = math.Min(minY, ay), math.Max(maxY, ay)
		for y := clampInt(int(math.Min(ay, by)), h); y <= clampInt(int(math.Max(ay, by)), h); y++ {
			xa, xb, ok := clipToBand(ax, ay, bx, by, float64(y), float64(y+1))
			if !ok {
				continue
			}
			lo, hi := int(math.Floor(xa)), int(math.Ceil(xb))-1
			if hi < lo { // a vertical edge on a pixel boundary touches no pixel's inside
				continue
			}
			for x := clampInt(lo, w); x <= clampInt(hi, w); x++ {
				out[y*w+x] = true
			}
		}
	}
	for y := clampInt(int(minY), h); y <= clampInt(int(maxY), h); y++ {
		cy := (float64(y) + 0.5) / fh
		for x := clampInt(int(minX), w); x <= clampInt(int(maxX), w); x++ {
			if !out[y*w+x] && inside((float64(x)+0.5)/fw, cy, p) {
				out[y*w+x] = true
			}
		}
	}
}

// clipToBand returns the x extent (xa <= xb) of the segment (ax, ay)-(bx, by) within the band y0 <= y <= y1.
func clipToBand(ax, ay, bx, by, y0, y1 float64) (xa, xb float64, ok bool) {
	if ay == by {
		if ay < y0 || ay > y1 {
			return 0, 0, false
		}
		return math.Min(ax, bx), math.Max(ax, bx), true
	}
	t0, t1 := (y0-ay)/(by-ay), (y1-ay)/(by-ay)
	lo, hi := math.Max(0, math.Min(t0, t1)), math.Min(1, math.Max(t0, t1))
	if lo > hi {
		return 0, 0, false
	}
	x0, x1 := ax+(bx-ax)*lo, ax+(bx-ax)*hi
	return math.Min(x0, x1), math.Max(x0, x1), true
}

func clampInt(v, n int) int { return min(max(v, 0), n-1) }

// inside reports whether (x, y) lies inside p by the even-odd rule.
func inside(x, y float64, p Polygon) bool {
	in := false
	for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
		xi, yi := p[i][0], p[i][1]
		xj, yj := p[j][0], p[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

// Fingerprint identifies the mask's geometry: equal masks have equal fingerprints, and a clip records the
// fingerprint of the mask burned into it, so a clip recorded before a mask was set or changed is recognised.
// It is "" for an empty mask.
func (m Mask) Fingerprint() string {
	if m.Empty() {
		return ""
	}
	h := sha256.New()
	for _, p := range m {
		for _, v := range p {
			fmt.Fprintf(h, "%s,%s ", strconv.FormatFloat(v[0], 'g', -1, 64), strconv.FormatFloat(v[1], 'g', -1, 64))
		}
		h.Write([]byte{';'})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
