package media

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"citywatch/cameras"
	"citywatch/cameras/annexb"
)

// timescale is the fMP4 track timescale: the RTP video clock, so PTS need no conversion.
const timescale = 90000

// trackID is the single video track's ID.
const trackID = 1

// initSegment marshals ftyp+moov for the access unit's codec and parameter sets.
func initSegment(au cameras.AccessUnit) ([]byte, error) {
	var codec mp4.Codec
	switch au.Codec {
	case cameras.CodecH264:
		if len(au.SPS) == 0 || len(au.PPS) == 0 {
			return nil, errors.New("missing H.264 parameter sets")
		}
		codec = &mp4.CodecH264{SPS: au.SPS, PPS: au.PPS}
	case cameras.CodecH265:
		if len(au.VPS) == 0 || len(au.SPS) == 0 || len(au.PPS) == 0 {
			return nil, errors.New("missing H.265 parameter sets")
		}
		codec = &mp4.CodecH265{VPS: au.VPS, SPS: au.SPS, PPS: au.PPS}
	case cameras.CodecMJPEG:
		if au.Width <= 0 || au.Height <= 0 {
			return nil, errors.New("M-JPEG picture size unknown")
		}
		codec = &mp4.CodecMJPEG{Width: au.Width, Height: au.Height}
	default:
		return nil, fmt.Errorf("unsupported codec %q", au.Codec)
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: trackID, TimeScale: timescale, Codec: codec}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("marshal init: %w", err)
	}
	return buf.Bytes(), nil
}

// mimeType is the MSE MIME type with RFC 6381 codec string for the access unit's codec.
func mimeType(au cameras.AccessUnit) (string, error) {
	s, err := codecString(au)
	if err != nil {
		return "", err
	}
	return `video/mp4; codecs="` + s + `"`, nil
}

// codecString is the RFC 6381 codec parameter: avc1.PPCCLL for H.264 (profile_idc, constraint flags,
// level_idc from the SPS), hvc1.* per ISO/IEC 14496-15 Annex E for H.265.
func codecString(au cameras.AccessUnit) (string, error) {
	switch au.Codec {
	case cameras.CodecH264:
		if len(au.SPS) < 4 {
			return "", errors.New("H.264 SPS too short")
		}
		return fmt.Sprintf("avc1.%02x%02x%02x", au.SPS[1], au.SPS[2], au.SPS[3]), nil
	case cameras.CodecH265:
		return hvcCodecString(au.SPS)
	}
	return "", fmt.Errorf("unsupported codec %q", au.Codec)
}

// hvcCodecString builds hvc1.<space><profile>.<compat>.<tier><level>.<constraints> from the raw
// profile_tier_level bytes of the SPS.
func hvcCodecString(sps []byte) (string, error) {
	rbsp := h264.EmulationPreventionRemove(sps) // the escaping is the same in H.265
	// 2 bytes NAL header, 1 byte vps_id/max_sub_layers/nesting, then profile_tier_level: 1 byte space,
	// tier, profile; 4 bytes compatibility flags; 6 bytes constraint flags; 1 byte level.
	if len(rbsp) < 15 {
		return "", errors.New("H.265 SPS too short")
	}
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return "", fmt.Errorf("H.265 SPS: %w", err)
	}
	p := rbsp[3:]
	space := []string{"", "A", "B", "C"}[p[0]>>6]
	tier := "L"
	if p[0]&0x20 != 0 {
		tier = "H"
	}
	profile := p[0] & 0x1f
	compat := uint32(p[1])<<24 | uint32(p[2])<<16 | uint32(p[3])<<8 | uint32(p[4])
	var rev uint32
	for i := range 32 {
		if compat&(1<<i) != 0 {
			rev |= 1 << (31 - i)
		}
	}
	cons := p[5:11]
	end := len(cons)
	for end > 0 && cons[end-1] == 0 {
		end--
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hvc1.%s%d.%X.%s%d", space, profile, rev, tier, p[11])
	for _, c := range cons[:end] {
		fmt.Fprintf(&b, ".%X", c)
	}
	return b.String(), nil
}

// withParams returns the access unit's NAL units with its parameter sets in front when it is an H.264/H.265
// keyframe that does not carry them in band.
func withParams(au cameras.AccessUnit) [][]byte {
	if au.Codec == cameras.CodecMJPEG {
		return au.NALUs
	}
	return annexb.WithParams(au, au.Codec == cameras.CodecH265)
}

// timedSample is an fMP4 sample with its decode time on the output timeline.
type timedSample struct {
	decodeTime uint64
	sample     *fmp4.Sample
	au         cameras.AccessUnit
}

// fragmenter turns the access units of a stream into fMP4 samples. A sample's duration is known when the
// next access unit arrives, so add returns the previous one. Decode times come from the codec's DTS
// extractor (B-frames), falling back to PTS order; the output timeline starts at 0 and stays continuous
// across sessions.
type fragmenter struct {
	session  uint64
	started  bool
	h265     bool
	mjpeg    bool // every sample is a JPEG image: no DTS extraction, no NAL units
	x264     *h264.DTSExtractor
	x265     *h265.DTSExtractor
	origin   int64  // DTS of the session's first access unit
	base     uint64 // output decode time of the session's first access unit
	prevDTS  int64
	lastDur  uint32
	pending  *timedSample
	nextTime uint64 // output decode time after the last returned sample
}

// reset starts a new session: the next access unit is placed right after the last one returned.
func (f *fragmenter) reset(au cameras.AccessUnit) {
	f.session, f.started, f.h265 = au.Session, true, au.Codec == cameras.CodecH265
	f.mjpeg = au.Codec == cameras.CodecMJPEG
	f.x264, f.x265 = nil, nil
	switch {
	case f.mjpeg:
	case f.h265:
		f.x265 = &h265.DTSExtractor{}
		f.x265.Initialize()
	default:
		f.x264 = &h264.DTSExtractor{}
		f.x264.Initialize()
	}
	f.base = f.nextTime
	if f.pending != nil {
		f.base = f.pending.decodeTime + uint64(f.defaultDur())
	}
	f.origin = -1
}

func (f *fragmenter) defaultDur() uint32 {
	if f.lastDur == 0 {
		return timescale / 30
	}
	return f.lastDur
}

func (f *fragmenter) dts(au cameras.AccessUnit) int64 {
	var dts int64
	var err error
	nalus := withParams(au)
	if f.mjpeg {
		dts = au.PTS // no reordering in M-JPEG
	} else if f.h265 {
		dts, err = f.x265.Extract(nalus, au.PTS)
	} else {
		dts, err = f.x264.Extract(nalus, au.PTS)
	}
	if err != nil || dts > au.PTS {
		dts = au.PTS
	}
	if f.origin >= 0 && dts <= f.prevDTS {
		dts = f.prevDTS + 1
	}
	return dts
}

// sessionChanged reports whether au belongs to another session than the previous access units.
func (f *fragmenter) sessionChanged(au cameras.AccessUnit) bool {
	return !f.started || au.Session != f.session
}

// add takes the next access unit of the current session and returns the previous one as a finished
// sample, or nil.
func (f *fragmenter) add(au cameras.AccessUnit) (*timedSample, error) {
	dts := f.dts(au)
	if f.origin < 0 {
		f.origin = dts
	}
	f.prevDTS = dts
	var s fmp4.Sample
	ptsOffset := au.PTS - dts
	var err error
	switch {
	case f.mjpeg:
		if len(au.NALUs) != 1 {
			return nil, errors.New("sample: M-JPEG frame is not one image")
		}
		s.Payload = au.NALUs[0]
	case f.h265:
		err = s.FillH265(int32(ptsOffset), au.NALUs)
	default:
		err = s.FillH264(int32(ptsOffset), au.NALUs)
	}
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	s.IsNonSyncSample = !au.Keyframe
	cur := &timedSample{decodeTime: f.base + uint64(dts-f.origin), sample: &s, au: au}
	prev := f.pending
	f.pending = cur
	if prev == nil {
		return nil, nil
	}
	if cur.decodeTime <= prev.decodeTime { // cannot happen after dts(); keep the timeline strictly increasing
		cur.decodeTime = prev.decodeTime + 1
	}
	f.lastDur = uint32(cur.decodeTime - prev.decodeTime)
	prev.sample.Duration = f.lastDur
	f.nextTime = cur.decodeTime
	return prev, nil
}

// flush returns the pending access unit with the last known frame duration, or nil.
func (f *fragmenter) flush() *timedSample {
	p := f.pending
	if p == nil {
		return nil
	}
	f.pending = nil
	p.sample.Duration = f.defaultDur()
	f.nextTime = p.decodeTime + uint64(p.sample.Duration)
	return p
}

// marshalPart encodes samples (consecutive, non-empty) as one moof+mdat.
func marshalPart(seq uint32, samples []*timedSample) ([]byte, error) {
	ss := make([]*fmp4.Sample, len(samples))
	for i, s := range samples {
		ss[i] = s.sample
	}
	part := fmp4.Part{SequenceNumber: seq, Tracks: []*fmp4.PartTrack{{
		ID: trackID, BaseTime: samples[0].decodeTime, Samples: ss,
	}}}
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("marshal fragment: %w", err)
	}
	return buf.Bytes(), nil
}
