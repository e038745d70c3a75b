// Package annexb writes camera access units as an H.264/H.265 Annex-B byte stream, the form ffmpeg reads on
// its standard input (the analysis decoder, snapshots), and names the NAL unit types both need.
package annexb

import "citywatch/cameras"

// startCode precedes every NAL unit in the stream.
var startCode = []byte{0, 0, 0, 1}

// Access unit delimiters appended after every access unit: ffmpeg's parser completes a frame when the next
// one starts, so without them each frame would wait for the next access unit (a whole GOP when only
// keyframes are fed).
var (
	audH264 = []byte{0x09, 0xf0}
	audH265 = []byte{0x46, 0x01, 0x50}
)

// Type is the NAL unit type of n, which must not be empty.
func Type(n []byte, h265 bool) byte {
	if h265 {
		return (n[0] >> 1) & 0x3f
	}
	return n[0] & 0x1f
}

// IsAUD reports whether n is an access unit delimiter.
func IsAUD(n []byte, h265 bool) bool {
	t := Type(n, h265)
	return (h265 && t == 35) || (!h265 && t == 9)
}

// IsParameterSet reports whether n is a VPS (H.265), SPS or PPS.
func IsParameterSet(n []byte, h265 bool) bool {
	t := Type(n, h265)
	if h265 {
		return t == 32 || t == 33 || t == 34
	}
	return t == 7 || t == 8
}

// WithParams returns au's NAL units with its parameter sets (the non-empty ones of VPS, SPS, PPS) in front
// when it is a keyframe that does not carry them in band.
func WithParams(au cameras.AccessUnit, h265 bool) [][]byte {
	if !au.Keyframe {
		return au.NALUs
	}
	for _, n := range au.NALUs {
		if len(n) > 0 && IsParameterSet(n, h265) {
			return au.NALUs
		}
	}
	sets := [][]byte{au.SPS, au.PPS}
	if h265 {
		sets = [][]byte{au.VPS, au.SPS, au.PPS}
	}
	out := make([][]byte, 0, len(sets)+len(au.NALUs))
	for _, ps := range sets {
		if len(ps) > 0 {
			out = append(out, ps)
		}
	}
	return append(out, au.NALUs...)
}

// Append appends au to b in Annex-B form: parameter sets before a keyframe (unless it carries them), its
// non-empty NAL units without their own delimiters, then a delimiter.
func Append(b []byte, au cameras.AccessUnit, h265 bool) []byte {
	for _, n := range WithParams(au, h265) {
		if len(n) == 0 || IsAUD(n, h265) {
			continue
		}
		b = append(append(b, startCode...), n...)
	}
	aud := audH264
	if h265 {
		aud = audH265
	}
	return append(append(b, startCode...), aud...)
}
