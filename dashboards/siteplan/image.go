package siteplan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of uploaded plans
	_ "image/png"
	"net/http"
)

// ErrImage is the class of a rejected plan image: wrong type, too large, undecodable or out-of-bound
// dimensions. The HTTP API answers it with 4xx and its message.
var ErrImage = errors.New("plan image rejected")

// ImageInfo is what CheckImage learnt about an accepted image.
type ImageInfo struct {
	ContentType string `json:"content_type"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
}

// acceptedTypes are the formats a plan may be in: what every browser shows and whose header the server can
// check without a third-party decoder.
var acceptedTypes = []string{"image/png", "image/jpeg", "image/webp"}

// CheckImage decides whether data may be stored as a plan: its type is sniffed from its bytes (a declared
// Content-Type is not trusted), and the dimensions its header declares must be within maxSide pixels on each
// side and maxPixels in all, so a hostile upload can neither pass as another type (HTML, SVG with script) nor
// make a browser allocate gigabytes. Only the header is decoded: the server never holds the pixels.
func CheckImage(data []byte, maxBytes int64, maxSide, maxPixels int) (ImageInfo, error) {
	if len(data) == 0 {
		return ImageInfo{}, fmt.Errorf("%w: empty body", ErrImage)
	}
	if int64(len(data)) > maxBytes {
		return ImageInfo{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrImage, len(data), maxBytes)
	}
	ct := http.DetectContentType(data)
	var w, h int
	switch ct {
	case "image/png", "image/jpeg":
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return ImageInfo{}, fmt.Errorf("%w: %s header: %v", ErrImage, ct, err)
		}
		w, h = cfg.Width, cfg.Height
	case "image/webp":
		var err error
		if w, h, err = webpSize(data); err != nil {
			return ImageInfo{}, fmt.Errorf("%w: image/webp header: %v", ErrImage, err)
		}
	default:
		return ImageInfo{}, fmt.Errorf("%w: content is %s; a plan must be PNG, JPEG or WebP", ErrImage, ct)
	}
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide || int64(w)*int64(h) > int64(maxPixels) {
		return ImageInfo{}, fmt.Errorf("%w: %d×%d pixels; at most %d on a side and %d in all", ErrImage, w, h, maxSide, maxPixels)
	}
	return ImageInfo{ContentType: ct, Width: w, Height: h}, nil
}

// webpSize reads the canvas size of a WebP file from its first chunk (RFC 9649): VP8X carries the canvas
// size, VP8 (lossy) and VP8L (lossless) the frame size.
func webpSize(b []byte) (w, h int, err error) {
	if len(b) < 30 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return 0, 0, errors.New("not a RIFF WEBP file")
	}
	chunk, size, data := string(b[12:16]), binary.LittleEndian.Uint32(b[16:20]), b[20:]
	if uint64(size) > uint64(len(data)) && chunk != "VP8 " && chunk != "VP8L" {
		return 0, 0, fmt.Errorf("chunk %q truncated", chunk)
	}
	switch chunk {
	case "VP8X": // flags(1) reserved(3) canvas width-1 (24 bits) canvas height-1 (24 bits)
		return 1 + int(uint24(data[4:7])), 1 + int(uint24(data[7:10])), nil
	case "VP8 ": // frame tag(3) start code 9d 01 2a, then 14-bit width and height with 2-bit scale
		if data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a {
			return 0, 0, errors.New("VP8 start code missing")
		}
		return int(binary.LittleEndian.Uint16(data[6:8]) & 0x3fff), int(binary.LittleEndian.Uint16(data[8:10]) & 0x3fff), nil
	case "VP8L": // signature 0x2f, then 14 bits width-1 and 14 bits height-1
		if data[0] != 0x2f {
			return 0, 0, errors.New("VP8L signature missing")
		}
		bits := binary.LittleEndian.Uint32(data[1:5])
		return 1 + int(bits&0x3fff), 1 + int((bits>>14)&0x3fff), nil
	}
	return 0, 0, fmt.Errorf("unknown first chunk %q", chunk)
}

func uint24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }
