package annexb

import (
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/cameras"
)

var (
	sps, pps = []byte{0x67, 1}, []byte{0x68, 2}
	idr      = []byte{0x65, 3}
	vps265   = []byte{0x40, 1}
	sps265   = []byte{0x42, 1}
	pps265   = []byte{0x44, 1}
	idr265   = []byte{0x26, 1, 3}
)

func au264(key bool, nalus ...[]byte) cameras.AccessUnit {
	return cameras.AccessUnit{Codec: cameras.CodecH264, Keyframe: key, SPS: sps, PPS: pps, NALUs: nalus}
}

func au265(key bool, nalus ...[]byte) cameras.AccessUnit {
	return cameras.AccessUnit{Codec: cameras.CodecH265, Keyframe: key, VPS: vps265, SPS: sps265, PPS: pps265, NALUs: nalus}
}

var appendCases = []struct {
	name string
	au   cameras.AccessUnit
	h265 bool
	want []byte
}{
	{"parameter sets prepended, the AU's own AUD and empty NALUs dropped, an AUD appended",
		au264(true, []byte{0x09, 0xf0}, idr, []byte{}), false,
		[]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3, 0, 0, 0, 1, 0x09, 0xf0}},
	{"parameter sets in band are not repeated", au264(true, sps, pps, idr), false,
		[]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3, 0, 0, 0, 1, 0x09, 0xf0}},
	{"no parameter sets before a delta frame", au264(false, []byte{0x41, 4}), false,
		[]byte{0, 0, 0, 1, 0x41, 4, 0, 0, 0, 1, 0x09, 0xf0}},
	{"H.265: VPS, SPS, PPS before a keyframe, an H.265 AUD after", au265(true, idr265), true,
		[]byte{0, 0, 0, 1, 0x40, 1, 0, 0, 0, 1, 0x42, 1, 0, 0, 0, 1, 0x44, 1, 0, 0, 0, 1, 0x26, 1, 3, 0, 0, 0, 1, 0x46, 0x01, 0x50}},
	{"H.265: its own AUD dropped", au265(false, []byte{0x46, 0x01, 0x50}, []byte{0x02, 1}), true,
		[]byte{0, 0, 0, 1, 0x02, 1, 0, 0, 0, 1, 0x46, 0x01, 0x50}},
}

func TestAppend(t *testing.T) {
	for _, tc := range appendCases {
		require.Equal(t, tc.want, Append(nil, tc.au, tc.h265), tc.name)
	}
}

func TestWithParamsKeepsTheAccessUnit(t *testing.T) {
	au := au264(true, idr)
	got := WithParams(au, false)
	require.Equal(t, [][]byte{sps, pps, idr}, got)
	require.Equal(t, [][]byte{idr}, au.NALUs, "the access unit's own slice is not changed")
}

// FuzzAppend feeds arbitrary access units through the writer: it may not panic, and it always ends the
// access unit with a delimiter.
func FuzzAppend(f *testing.F) {
	for _, tc := range appendCases {
		f.Add(tc.au.NALUs[0], tc.au.SPS, tc.au.Keyframe, tc.h265)
	}
	f.Fuzz(func(t *testing.T, nalu, ps []byte, key, h265 bool) {
		au := cameras.AccessUnit{Keyframe: key, VPS: ps, SPS: ps, PPS: nalu, NALUs: [][]byte{nalu, nil, ps}}
		b := Append(nil, au, h265)
		aud := audH264
		if h265 {
			aud = audH265
		}
		require.Equal(t, append(append([]byte{}, startCode...), aud...), b[len(b)-len(startCode)-len(aud):])
	})
}
