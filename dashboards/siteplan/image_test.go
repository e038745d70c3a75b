package siteplan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
)

func pngOf(w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// pngClaiming is a valid small PNG whose header claims w×h pixels (IHDR patched, CRC recomputed): a
// decompression bomb's shape.
func pngClaiming(w, h uint32) []byte {
	b := pngOf(2, 2)
	binary.BigEndian.PutUint32(b[16:20], w)
	binary.BigEndian.PutUint32(b[20:24], h)
	binary.BigEndian.PutUint32(b[29:33], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func jpegOf(w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// webpLossless is the header of a VP8L WebP of w×h (what CheckImage reads; the pixels are not checked).
func webpLossless(w, h int) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f")
	bits := uint32(w-1)&0x3fff | (uint32(h-1)&0x3fff)<<14
	b = binary.LittleEndian.AppendUint32(b, bits)
	b = append(b, make([]byte, 16)...)
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(b)-8))
	binary.LittleEndian.PutUint32(b[16:20], uint32(len(b)-20))
	return b
}

// webpExtended is the header of a VP8X WebP whose canvas is w×h.
func webpExtended(w, h int) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	b = append(b, byte(w-1), byte((w-1)>>8), byte((w-1)>>16), byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	b = append(b, make([]byte, 8)...)
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(b)-8))
	return b
}

// imageCases are uploads with the verdict CheckImage must give under the limits 1 MiB, 4000 a side, 8 MP.
var imageCases = []struct {
	name  string
	data  []byte
	ct    string // accepted: the sniffed type
	w, h  int
	fails bool
}{
	{name: "png", data: pngOf(40, 30), ct: "image/png", w: 40, h: 30},
	{name: "jpeg", data: jpegOf(64, 48), ct: "image/jpeg", w: 64, h: 48},
	{name: "webp lossless", data: webpLossless(800, 600), ct: "image/webp", w: 800, h: 600},
	{name: "webp extended", data: webpExtended(1600, 900), ct: "image/webp", w: 1600, h: 900},
	{name: "empty", data: nil, fails: true},
	{name: "html", data: []byte("<html><script>alert(1)</script></html>"), fails: true},
	{name: "svg", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), fails: true},
	{name: "gif", data: []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), fails: true},
	{name: "png bomb header", data: pngClaiming(100000, 100000), fails: true},
	{name: "png too wide", data: pngClaiming(4001, 10), fails: true},
	{name: "png too many pixels", data: pngClaiming(3000, 3000), fails: true},
	{name: "png truncated", data: pngOf(4, 4)[:20], fails: true},
	{name: "webp too large", data: webpExtended(1<<24, 1<<24), fails: true},
	{name: "webp truncated", data: webpLossless(10, 10)[:26], fails: true},
	{name: "webp bad chunk", data: append([]byte("RIFF\x10\x00\x00\x00WEBPVP8Q"), make([]byte, 20)...), fails: true},
	{name: "too many bytes", data: append(pngOf(2, 2), make([]byte, 1<<20)...), fails: true},
}

func TestCheckImage(t *testing.T) {
	for _, tc := range imageCases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := CheckImage(tc.data, 1<<20, 4000, 8_000_000)
			if tc.fails {
				if !errors.Is(err, ErrImage) {
					t.Fatalf("accepted (%+v, %v), want ErrImage", info, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info != (ImageInfo{ContentType: tc.ct, Width: tc.w, Height: tc.h}) {
				t.Fatalf("got %+v", info)
			}
		})
	}
}

// FuzzCheckImage: no upload panics CheckImage, and what it accepts is within the limits and of an accepted type.
func FuzzCheckImage(f *testing.F) {
	for _, tc := range imageCases {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := CheckImage(data, 1<<20, 4000, 8_000_000)
		if err != nil {
			if !errors.Is(err, ErrImage) {
				t.Fatalf("error %v is not ErrImage", err)
			}
			return
		}
		if info.Width <= 0 || info.Height <= 0 || info.Width > 4000 || info.Height > 4000 || info.Width*info.Height > 8_000_000 {
			t.Fatalf("accepted %+v", info)
		}
		if info.ContentType != "image/png" && info.ContentType != "image/jpeg" && info.ContentType != "image/webp" {
			t.Fatalf("accepted type %q", info.ContentType)
		}
	})
}
