package camerasim

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"
)

// CodecMJPEG is Motion JPEG over RTP (RFC 2435), what many older and cheaper IP cameras stream.
const CodecMJPEG = "MJPEG"

// M-JPEG clip geometry: small, so the generated clips cost little memory and CPU. Both are multiples of
// 16, as 4:2:0 JPEG over RTP needs.
const (
	mjpegWidth  = 320
	mjpegHeight = 240
	mjpegFrames = 2 * FPS // a 2 s loop
)

// mjpegClips are the M-JPEG counterparts of the embedded H.264 clips, drawn and encoded at New: the normal
// scene (a moving gradient), an all-black picture and the scene with a white box crossing the middle band.
type mjpegClips struct {
	normal, black, motion *clip
}

func newMJPEGClips() (*mjpegClips, error) {
	var cs mjpegClips
	var err error
	if cs.normal, err = mjpegClip(func(i int, x, y int) (uint8, bool) { return scene(i, x, y), true }); err != nil {
		return nil, err
	}
	if cs.black, err = mjpegClip(func(int, int, int) (uint8, bool) { return 16, false }); err != nil {
		return nil, err
	}
	cs.motion, err = mjpegClip(func(i int, x, y int) (uint8, bool) {
		bx := i * (mjpegWidth + 80) / mjpegFrames
		if x >= bx-80 && x < bx && y >= 80 && y < 160 {
			return 235, false
		}
		return scene(i, x, y), true
	})
	return &cs, err
}

// scene is the normal picture's luma: a diagonal gradient that drifts one pixel per frame.
func scene(i, x, y int) uint8 { return uint8(40 + (x+y+i)%160) }

// mjpegClip draws and encodes mjpegFrames frames; pixel returns a pixel's luma and whether it has colour.
func mjpegClip(pixel func(i, x, y int) (uint8, bool)) (*clip, error) {
	c := &clip{codec: CodecMJPEG, width: mjpegWidth, height: mjpegHeight}
	for i := range mjpegFrames {
		img := image.NewYCbCr(image.Rect(0, 0, mjpegWidth, mjpegHeight), image.YCbCrSubsampleRatio420)
		for y := range mjpegHeight {
			for x := range mjpegWidth {
				v, colour := pixel(i, x, y)
				img.Y[y*img.YStride+x] = v
				ci := img.COffset(x, y)
				img.Cb[ci], img.Cr[ci] = 128, 128
				if colour {
					img.Cb[ci] = uint8(100 + x/8)
				}
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 75}); err != nil {
			return nil, fmt.Errorf("camerasim: encode M-JPEG frame: %w", err)
		}
		c.aus = append(c.aus, [][]byte{b.Bytes()})
	}
	return c, nil
}

// mjpegEncoder packetizes access units holding one JPEG image each.
type mjpegEncoder struct{ enc *rtpmjpeg.Encoder }

func (e mjpegEncoder) Encode(au [][]byte) ([]*rtp.Packet, error) {
	if len(au) != 1 {
		return nil, fmt.Errorf("M-JPEG access unit with %d images", len(au))
	}
	return e.enc.Encode(au[0])
}
