// Package masktest tells whether pictures show what a privacy mask hides, for the tests of the packages that
// apply masks (cameras/media) and serve masked video (dashboards).
package masktest

import (
	"image"
	"testing"

	"citywatch/cameras/privacymask"
)

// Margin is how far inside the mask pixels are checked: lossy coding may blur the mask's very edge with the
// visible picture next to it, never its inside.
const Margin = 8

// Dark is the brightest channel value still counted as the mask's black after lossy coding.
const Dark = 40

// Interior lists the pixels of a w×h picture that lie Margin or more inside m. It fails the test when they
// are too few (1,000) to tell anything.
func Interior(t testing.TB, m privacymask.Mask, w, h int) []int {
	t.Helper()
	bits := m.Bitmap(w, h)
	var out []int
	for y := Margin; y < h-Margin; y++ {
		for x := Margin; x < w-Margin; x++ {
			all := true
			for dy := -Margin; dy <= Margin && all; dy += 2 {
				for dx := -Margin; dx <= Margin && all; dx += 2 {
					all = bits[(y+dy)*w+x+dx]
				}
			}
			if all {
				out = append(out, y*w+x)
			}
		}
	}
	if len(out) <= 1000 {
		t.Fatalf("the mask covers %d pixels of a %dx%d picture; a test mask must cover a real area", len(out), w, h)
	}
	return out
}

// DarkShare returns the share of the pixels idx of an RGB24 picture whose channels are all Dark or darker:
// 1 when nothing the mask hides shows.
func DarkShare(rgb []byte, idx []int) float64 {
	n := 0
	for _, i := range idx {
		if max(rgb[3*i], rgb[3*i+1], rgb[3*i+2]) <= Dark {
			n++
		}
	}
	return float64(n) / float64(len(idx))
}

// RGB24 returns img's pixels as RGB24, row by row.
func RGB24(img image.Image) []byte {
	b := img.Bounds()
	out := make([]byte, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			out = append(out, byte(r>>8), byte(g>>8), byte(bb>>8))
		}
	}
	return out
}
