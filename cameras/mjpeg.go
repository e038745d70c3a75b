package cameras

import (
	"bytes"
	"errors"
	"fmt"
	"image/jpeg"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"
)

// onMJPEGLocked reassembles an RTP/JPEG frame (RFC 2435). Every frame is a complete JPEG image, so every
// frame is a keyframe: the keyframe interval is the frame interval. It is called with c.mu held and
// releases it.
func (c *camera) onMJPEGLocked(pkt *rtp.Packet, pts int64, ptsOK bool, now time.Time, b *counts) {
	img, w, h, err := mjpegFrame(c.decMJPEG, pkt)
	if err != nil {
		c.corruptLocked(b)
		c.mu.Unlock()
		return
	}
	if img == nil {
		c.mu.Unlock()
		return
	}
	c.params.width, c.params.height = w, h
	b.frames++
	c.frameLocked(now)
	if !c.lastKeyframe.IsZero() {
		c.keyframeInterval = now.Sub(c.lastKeyframe)
	}
	c.lastKeyframe = now
	sink := c.m.deps.Sink
	au := AccessUnit{Codec: CodecMJPEG, NALUs: [][]byte{img}, PTS: pts, Keyframe: true, Time: now, Session: c.session,
		Width: w, Height: h}
	if !ptsOK {
		au.PTS = 0
	}
	c.mu.Unlock()
	if sink != nil {
		sink.OnAccessUnit(c.cfg.ID, au)
	}
}

// mjpegFrame feeds one RTP/JPEG packet to the depacketizer. It returns the completed JPEG image (a fresh
// buffer) and its size, or a nil image and nil error while the frame needs more packets. An error means
// the frame is corrupt: a broken JPEG header, a missing fragment, or headers that do not parse. It never
// panics on hostile input.
func mjpegFrame(dec *rtpmjpeg.Decoder, pkt *rtp.Packet) (img []byte, w, h int, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, w, h, err = nil, 0, 0, errCorrupt{why: fmt.Sprintf("RTP/JPEG depacketizer panic: %v", r)}
		}
	}()
	img, err = dec.Decode(pkt)
	if err != nil {
		if errors.Is(err, rtpmjpeg.ErrMorePacketsNeeded) || errors.Is(err, rtpmjpeg.ErrNonStartingPacketAndNoPrevious) {
			return nil, 0, 0, nil
		}
		return nil, 0, 0, errCorrupt{why: "RTP/JPEG: " + err.Error()}
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		return nil, 0, 0, errCorrupt{why: "JPEG: " + err.Error()}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, 0, 0, errCorrupt{why: "JPEG without a picture size"}
	}
	return img, cfg.Width, cfg.Height, nil
}
