package cameras

import "time"

// AccessUnit is one decoded-from-RTP video frame (an H.264/H.265 access unit, or one M-JPEG image), handed
// to an AccessUnitSink for analysis, snapshots, clips and live view.
type AccessUnit struct {
	// Codec is CodecH264, CodecH265 or CodecMJPEG.
	Codec string
	// NALUs are the frame's NAL units without start codes. For CodecMJPEG it holds exactly one element: the
	// complete JPEG image (SOI to EOI). They are not reused by the monitor and may be retained, but must
	// not be modified.
	NALUs [][]byte
	// PTS is the presentation time in 90 kHz units since the session started (monotonic within a session).
	PTS int64
	// Keyframe is true for a random access point whose parameter sets are known: a decoder can start here.
	// Every M-JPEG frame is a keyframe.
	Keyframe bool
	// Time is when the frame's last packet arrived.
	Time time.Time
	// Session increments on every new RTSP session of the camera, so a sink can reset its decoder state.
	Session uint64
	// VPS (H.265 only), SPS and PPS are the current parameter sets, for initializing a decoder or muxer.
	// They are empty for M-JPEG.
	VPS, SPS, PPS []byte
	// Width and Height are the coded picture size from the SPS (M-JPEG: the JPEG frame header); 0 when
	// unknown.
	Width, Height int
}

// AccessUnitSink receives every well-formed access unit of every camera. OnAccessUnit is called from the
// camera's RTP reader goroutine: it must return quickly and never block (copy or hand off, drop when full,
// count drops). Calls for one camera are sequential; calls for different cameras are concurrent.
type AccessUnitSink interface {
	OnAccessUnit(cameraID string, au AccessUnit)
}

// Sinks fans access units out to several sinks (analysis, ring buffer, live view), in order.
type Sinks []AccessUnitSink

// OnAccessUnit implements AccessUnitSink.
func (s Sinks) OnAccessUnit(cameraID string, au AccessUnit) {
	for _, sink := range s {
		if sink != nil {
			sink.OnAccessUnit(cameraID, au)
		}
	}
}
