package privacymask

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var leftHalf = Mask{{{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}}}

var validateCases = []struct {
	name string
	m    Mask
	err  string
}{
	{"empty", nil, ""},
	{"half", leftHalf, ""},
	{"two points", Mask{{{0, 0}, {1, 1}}}, "[0]: must have 3..64 points, got 2"},
	{"outside", Mask{{{0, 0}, {1.5, 0}, {1, 1}}}, "[0][1]: coordinates must be in 0..1, got [1.5, 0]"},
	{"too many", make(Mask, 17), "at most 16 polygons, got 17"},
}

func TestValidate(t *testing.T) {
	for _, tc := range validateCases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.err)
		})
	}
}

var bitmapCases = []struct {
	name string
	m    Mask
	w, h int
	want string // rows of # (covered) and . (visible)
}{
	{"left half", leftHalf, 8, 2, "####|####"},
	// The edge at x=0.45 cuts pixel 3 of 8 (3.6): the whole pixel is covered.
	{"edge inside a pixel", Mask{{{0, 0}, {0.45, 0}, {0.45, 1}, {0, 1}}}, 8, 1, "####"},
	// A sliver thinner than a pixel still covers the pixels it passes.
	{"sliver", Mask{{{0.5, 0}, {0.51, 0}, {0.51, 1}, {0.5, 1}}}, 4, 2, "..#|..#"},
	{"empty", nil, 4, 1, ""},
	{"bad size", leftHalf, 0, 4, ""},
}

func render(bits []bool, w int) string {
	var rows []string
	for y := 0; y*w < len(bits); y++ {
		var b strings.Builder
		for _, on := range bits[y*w : (y+1)*w] {
			if on {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		rows = append(rows, strings.TrimRight(b.String(), "."))
	}
	return strings.Join(rows, "|")
}

func TestBitmap(t *testing.T) {
	for _, tc := range bitmapCases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, render(tc.m.Bitmap(tc.w, tc.h), max(tc.w, 1)))
		})
	}
}

// colourful is a picture whose every pixel differs clearly from black.
func colourful(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{R: uint8(100 + x%150), G: uint8(200 - y%100), B: 180, A: 255})
		}
	}
	return img
}

func lumaAt(img image.Image, x, y int) uint8 {
	return color.YCbCrModel.Convert(img.At(x, y)).(color.YCbCr).Y
}

// maxInnerLuma returns the brightest luma among the pixels of img that lie, with a margin of m pixels,
// inside the covered area of bits: JPEG compression may blur the very edge of a mask, never its inside.
func maxInnerLuma(img image.Image, bits []bool, w, h, m int) (luma uint8, n int) {
	for y := m; y < h-m; y++ {
		for x := m; x < w-m; x++ {
			all := true
			for dy := -m; dy <= m && all; dy++ {
				for dx := -m; dx <= m && all; dx++ {
					all = bits[(y+dy)*w+x+dx]
				}
			}
			if !all {
				continue
			}
			n++
			luma = max(luma, lumaAt(img, x, y))
		}
	}
	return luma, n
}

func TestJPEGMasksPixels(t *testing.T) {
	const w, h = 160, 90
	var src bytes.Buffer
	require.NoError(t, jpeg.Encode(&src, colourful(w, h), &jpeg.Options{Quality: 90}))
	mask := Mask{{{0.1, 0.1}, {0.6, 0.2}, {0.5, 0.9}, {0.2, 0.7}}}
	bits := mask.Bitmap(w, h)

	before, err := jpeg.Decode(bytes.NewReader(src.Bytes()))
	require.NoError(t, err)
	l, n := maxInnerLuma(before, bits, w, h, 8)
	require.Greater(t, n, 200)
	require.Greater(t, l, uint8(100), "the unmasked picture must be bright where the mask goes")

	out, err := mask.JPEG(src.Bytes())
	require.NoError(t, err)
	after, err := jpeg.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	l, _ = maxInnerLuma(after, bits, w, h, 8)
	require.LessOrEqual(t, l, uint8(16), "masked pixels must be black")
	// Outside the mask the picture is kept.
	require.Greater(t, lumaAt(after, w-2, h-2), uint8(100))

	same, err := Mask(nil).JPEG(src.Bytes())
	require.NoError(t, err)
	require.Equal(t, src.Bytes(), same)
}

func TestJPEGRejectsGarbage(t *testing.T) {
	_, err := leftHalf.JPEG([]byte("not a jpeg"))
	require.ErrorContains(t, err, "privacymask: decode jpeg")
}

func TestOverlayPNG(t *testing.T) {
	b, err := leftHalf.OverlayPNG(8, 2)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	_, _, _, a := img.At(1, 1).RGBA()
	require.Equal(t, uint32(0xffff), a)
	_, _, _, a = img.At(6, 1).RGBA()
	require.Equal(t, uint32(0), a)
	_, err = Mask(nil).OverlayPNG(8, 2)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestPaintGray(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 4, 1))
	for i := range g.Pix {
		g.Pix[i] = 200
	}
	out, err := leftHalf.Paint(g)
	require.NoError(t, err)
	require.Equal(t, []uint8{0, 0, 200, 200}, out.(*image.Gray).Pix)
}

// FuzzJPEG feeds camera-supplied bytes (an M-JPEG frame is served as a snapshot) through the masker: it must
// return an error or a JPEG, never panic or allocate for a size it refused.
func FuzzJPEG(f *testing.F) {
	var src bytes.Buffer
	_ = jpeg.Encode(&src, colourful(16, 8), nil)
	f.Add(src.Bytes())
	f.Add([]byte{0xff, 0xd8, 0xff, 0xd9})
	f.Add([]byte("not a jpeg"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := leftHalf.JPEG(b)
		if err == nil && (len(out) < 2 || out[0] != 0xff || out[1] != 0xd8) {
			t.Fatalf("no JPEG and no error")
		}
	})
}

func TestFingerprint(t *testing.T) {
	require.Empty(t, Mask(nil).Fingerprint())
	a := leftHalf.Fingerprint()
	require.Len(t, a, 16)
	require.Equal(t, a, Mask{{{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}}}.Fingerprint())
	require.NotEqual(t, a, Mask{{{0, 0}, {0.5, 0}, {0.5, 1}, {0, 0.9}}}.Fingerprint())
	require.NotEqual(t, a, append(Mask{}, leftHalf[0], leftHalf[0]).Fingerprint())
}
