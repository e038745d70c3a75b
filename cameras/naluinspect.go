package cameras

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// Codec names as reported in Status and AccessUnit.
const (
	CodecH264 = "H264"
	CodecH265 = "H265"
	// CodecMJPEG is Motion JPEG (RTP/JPEG, RFC 2435): every frame is a complete JPEG image, and a keyframe.
	CodecMJPEG = "MJPEG"
)

// paramSets tracks the parameter sets of a stream and what they say.
type paramSets struct {
	codec         string
	vps, sps, pps []byte
	ppsIDs        map[uint32]bool
	width, height int
	profile       string
	fps           float64
	spsErr        error
}

// auInfo is what inspecting an access unit found.
type auInfo struct {
	keyframe bool // random access point with usable parameter sets: a decoder can start here
	random   bool // random access point
}

// errCorrupt marks an access unit that cannot be valid video.
type errCorrupt struct{ why string }

func (e errCorrupt) Error() string { return "corrupt access unit: " + e.why }

// inspect validates an access unit cheaply (NAL headers and the first slice-header fields), records
// parameter sets, and reports whether it is a decodable keyframe. It never panics on hostile input.
func (p *paramSets) inspect(au [][]byte) (info auInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			info, err = auInfo{}, errCorrupt{why: fmt.Sprintf("parser panic: %v", r)}
		}
	}()
	if p.codec == CodecH265 {
		return p.inspectH265(au)
	}
	return p.inspectH264(au)
}

func (p *paramSets) inspectH264(au [][]byte) (auInfo, error) {
	var info auInfo
	vcl := 0
	for _, nalu := range au {
		if len(nalu) < 1 || nalu[0]&0x80 != 0 {
			return auInfo{}, errCorrupt{"bad NAL header"}
		}
		typ := h264.NALUType(nalu[0] & 0x1f)
		switch {
		case typ == h264.NALUTypeSPS:
			p.setSPS264(nalu)
		case typ == h264.NALUTypePPS:
			p.setPPS(nalu, 1)
		case typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR:
			if typ == h264.NALUTypeIDR && nalu[0]&0x60 == 0 {
				return auInfo{}, errCorrupt{"IDR slice with nal_ref_idc 0"}
			}
			if err := p.checkSlice264(nalu); err != nil {
				return auInfo{}, err
			}
			vcl++
			info.random = info.random || typ == h264.NALUTypeIDR
		case typ >= 2 && typ <= 4: // data partitions
			vcl++
		case typ <= 12, typ == 14, typ == 15, typ == 20:
			// SEI, AUD, end of sequence/stream, filler, SVC/MVC extensions: fine.
		default:
			return auInfo{}, errCorrupt{fmt.Sprintf("reserved NAL type %d", typ)}
		}
	}
	if vcl == 0 {
		return auInfo{}, errCorrupt{"no slice"}
	}
	info.keyframe = info.random && p.sps != nil && p.pps != nil && p.spsErr == nil
	return info, nil
}

// checkSlice264 reads first_mb_in_slice, slice_type and pic_parameter_set_id.
func (p *paramSets) checkSlice264(nalu []byte) error {
	br := bitReader{buf: nalu[1:]}
	if _, ok := br.ue(); !ok {
		return errCorrupt{"truncated slice header"}
	}
	st, ok := br.ue()
	if !ok || st > 9 {
		return errCorrupt{"bad slice_type"}
	}
	ppsID, ok := br.ue()
	if !ok || ppsID > 255 {
		return errCorrupt{"bad pic_parameter_set_id"}
	}
	if len(p.ppsIDs) > 0 && !p.ppsIDs[ppsID] {
		return errCorrupt{fmt.Sprintf("slice refers to unknown PPS %d", ppsID)}
	}
	return nil
}

func (p *paramSets) inspectH265(au [][]byte) (auInfo, error) {
	var info auInfo
	vcl := 0
	for _, nalu := range au {
		if len(nalu) < 2 || nalu[0]&0x80 != 0 || nalu[1]&0x07 == 0 {
			return auInfo{}, errCorrupt{"bad NAL header"}
		}
		typ := h265.NALUType((nalu[0] >> 1) & 0x3f)
		switch {
		case typ == h265.NALUType_VPS_NUT:
			p.vps = append([]byte(nil), nalu...) // a fresh slice: sinks may keep the old one
		case typ == h265.NALUType_SPS_NUT:
			p.setSPS265(nalu)
		case typ == h265.NALUType_PPS_NUT:
			p.setPPS(nalu, 2)
		case typ <= 9 || (typ >= 16 && typ <= 21):
			if err := p.checkSlice265(nalu, typ); err != nil {
				return auInfo{}, err
			}
			vcl++
			if typ == h265.NALUType_IDR_W_RADL || typ == h265.NALUType_IDR_N_LP || typ == h265.NALUType_CRA_NUT {
				info.random = true
			}
		case typ >= 35 && typ <= 40:
			// AUD, EOS, EOB, FD, SEI.
		default:
			return auInfo{}, errCorrupt{fmt.Sprintf("reserved NAL type %d", typ)}
		}
	}
	if vcl == 0 {
		return auInfo{}, errCorrupt{"no slice"}
	}
	info.keyframe = info.random && p.vps != nil && p.sps != nil && p.pps != nil && p.spsErr == nil
	return info, nil
}

func (p *paramSets) checkSlice265(nalu []byte, typ h265.NALUType) error {
	br := bitReader{buf: nalu[2:]}
	if _, ok := br.bit(); !ok { // first_slice_segment_in_pic_flag
		return errCorrupt{"truncated slice header"}
	}
	if typ >= 16 && typ <= 23 {
		if _, ok := br.bit(); !ok { // no_output_of_prior_pics_flag
			return errCorrupt{"truncated slice header"}
		}
	}
	ppsID, ok := br.ue()
	if !ok || ppsID > 63 {
		return errCorrupt{"bad slice_pic_parameter_set_id"}
	}
	if len(p.ppsIDs) > 0 && !p.ppsIDs[ppsID] {
		return errCorrupt{fmt.Sprintf("slice refers to unknown PPS %d", ppsID)}
	}
	return nil
}

func (p *paramSets) setPPS(nalu []byte, hdr int) {
	if len(nalu) <= hdr {
		return
	}
	br := bitReader{buf: nalu[hdr:]}
	id, ok := br.ue()
	if !ok || id > 255 {
		return
	}
	if p.ppsIDs == nil {
		p.ppsIDs = make(map[uint32]bool)
	}
	if len(p.ppsIDs) < 64 {
		p.ppsIDs[id] = true
	}
	p.pps = append([]byte(nil), nalu...) // a fresh slice: sinks may keep the old one
}

func (p *paramSets) setSPS264(nalu []byte) {
	if string(nalu) == string(p.sps) {
		return
	}
	p.sps = append([]byte(nil), nalu...)
	var sps h264.SPS
	if err := sps.Unmarshal(nalu); err != nil {
		p.spsErr = err
		return
	}
	p.spsErr = nil
	p.width, p.height, p.fps = sps.Width(), sps.Height(), sps.FPS()
	p.profile = h264Profile(sps.ProfileIdc, sps.ConstraintSet1Flag)
}

func (p *paramSets) setSPS265(nalu []byte) {
	if string(nalu) == string(p.sps) {
		return
	}
	p.sps = append([]byte(nil), nalu...)
	var sps h265.SPS
	if err := sps.Unmarshal(nalu); err != nil {
		p.spsErr = err
		return
	}
	p.spsErr = nil
	p.width, p.height, p.fps = sps.Width(), sps.Height(), sps.FPS()
	p.profile = h265Profile(sps.ProfileTierLevel.GeneralProfileIdc)
}

func h264Profile(idc uint8, constrained bool) string {
	switch idc {
	case 66:
		if constrained {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	case 110:
		return "High 10"
	case 122:
		return "High 4:2:2"
	case 244:
		return "High 4:4:4"
	}
	return fmt.Sprintf("profile_idc %d", idc)
}

func h265Profile(idc uint8) string {
	switch idc {
	case 1:
		return "Main"
	case 2:
		return "Main 10"
	case 3:
		return "Main Still Picture"
	case 4:
		return "Range Extensions"
	}
	return fmt.Sprintf("profile_idc %d", idc)
}

// bitReader reads Exp-Golomb fields without emulation-prevention removal: enough for the first fields of
// a header, which are too short to contain an emulation prevention byte in valid streams.
type bitReader struct {
	buf []byte
	pos int
}

func (b *bitReader) bit() (uint32, bool) {
	if b.pos >= 8*len(b.buf) {
		return 0, false
	}
	v := (b.buf[b.pos/8] >> (7 - uint(b.pos%8))) & 1
	b.pos++
	return uint32(v), true
}

func (b *bitReader) ue() (uint32, bool) {
	zeros := 0
	for {
		v, ok := b.bit()
		if !ok {
			return 0, false
		}
		if v == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			return 0, false
		}
	}
	var v uint32
	for range zeros {
		x, ok := b.bit()
		if !ok {
			return 0, false
		}
		v = v<<1 | x
	}
	return (1<<zeros - 1) + v, true
}
