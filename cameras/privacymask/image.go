package privacymask

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
)

// JPEGQuality is the quality masked JPEGs are encoded at; ffmpeg's snapshots (-q:v 3) are about as good.
const JPEGQuality = 85

// Paint paints the mask black into img in place and returns it; an image type that cannot be painted in place
// is converted to RGBA first. It returns img unchanged for an empty mask.
func (m Mask) Paint(img image.Image) (image.Image, error) {
	if m.Empty() {
		return img, nil
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	bits := m.Bitmap(w, h)
	if bits == nil {
		return nil, fmt.Errorf("%w: %dx%d", ErrTooLarge, w, h)
	}
	switch p := img.(type) {
	case *image.YCbCr:
		paintYCbCr(p, bits, w, h)
		return p, nil
	case *image.Gray:
		for y := range h {
			for x := range w {
				if bits[y*w+x] {
					p.Pix[p.PixOffset(b.Min.X+x, b.Min.Y+y)] = 0
				}
			}
		}
		return p, nil
	}
	rgba := image.NewRGBA(b)
	draw.Draw(rgba, b, img, b.Min, draw.Src)
	for y := range h {
		for x := range w {
			if bits[y*w+x] {
				rgba.SetRGBA(b.Min.X+x, b.Min.Y+y, color.RGBA{A: 255})
			}
		}
	}
	return rgba, nil
}

// paintYCbCr sets masked luma to black and the chroma of every chroma sample that covers a masked pixel to
// neutral, so no colour of the hidden area survives the chroma subsampling.
func paintYCbCr(p *image.YCbCr, bits []bool, w, h int) {
	b := p.Rect
	for y := range h {
		for x := range w {
			if !bits[y*w+x] {
				continue
			}
			px, py := b.Min.X+x, b.Min.Y+y
			p.Y[p.YOffset(px, py)] = 0
			c := p.COffset(px, py)
			p.Cb[c], p.Cr[c] = 128, 128
		}
	}
}

// JPEG decodes src, paints the mask and encodes the result again. The picture's declared size is checked
// before decoding (see MaxPixels). src is returned as is for an empty mask.
func (m Mask) JPEG(src []byte) ([]byte, error) {
	if m.Empty() {
		return src, nil
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("privacymask: decode jpeg: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d", ErrTooLarge, cfg.Width, cfg.Height)
	}
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("privacymask: decode jpeg: %w", err)
	}
	if img, err = m.Paint(img); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(src))
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: JPEGQuality}); err != nil {
		return nil, fmt.Errorf("privacymask: encode jpeg: %w", err)
	}
	return out.Bytes(), nil
}

// OverlayPNG returns a w×h PNG that is opaque black where the mask covers and transparent elsewhere: laid
// over a video by ffmpeg's overlay filter it burns the mask into every frame.
func (m Mask) OverlayPNG(w, h int) ([]byte, error) {
	bits := m.Bitmap(w, h)
	if bits == nil {
		return nil, fmt.Errorf("%w: %dx%d (or an empty mask)", ErrTooLarge, w, h)
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, on := range bits {
		if on {
			img.Pix[i*4+3] = 255 // black, opaque
		}
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("privacymask: encode png: %w", err)
	}
	return out.Bytes(), nil
}
