package media

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
)

// codecStringCases seed FuzzCodecString: SPS bytes come from cameras, outside input.
var codecStringCases = []struct {
	name  string
	codec string
	sps   []byte
	want  string // "" means an error
}{
	{"h264 constrained baseline 3.0", cameras.CodecH264, []byte{0x67, 0x42, 0xc0, 0x1e, 0xda}, "avc1.42c01e"},
	{"h264 high 4.1", cameras.CodecH264, []byte{0x67, 0x64, 0x00, 0x29, 0xac}, "avc1.640029"},
	{"h264 truncated", cameras.CodecH264, []byte{0x67, 0x42}, ""},
	{"h265 truncated", cameras.CodecH265, []byte{0x42, 0x01, 0x01}, ""},
	{"h265 garbage", cameras.CodecH265, []byte{0x42, 0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ""},
	{"unknown codec", "MJPEG", []byte{1, 2, 3, 4}, ""},
}

func TestCodecString(t *testing.T) {
	for _, tc := range codecStringCases {
		got, err := codecString(cameras.AccessUnit{Codec: tc.codec, SPS: tc.sps})
		if tc.want == "" {
			assert.Error(t, err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
	c := loadClip(t, "clip.h265", cameras.CodecH265)
	got, err := codecString(cameras.AccessUnit{Codec: cameras.CodecH265, SPS: c.SPS})
	require.NoError(t, err)
	// Main profile, compatible with Main and Main 10, Main tier level 2.1, progressive and frame-only.
	assert.Equal(t, "hvc1.1.6.L63.90", got)
}

func FuzzCodecString(f *testing.F) {
	for _, tc := range codecStringCases {
		f.Add(tc.codec == cameras.CodecH265, tc.sps)
	}
	f.Fuzz(func(t *testing.T, h265 bool, sps []byte) {
		codec := cameras.CodecH264
		if h265 {
			codec = cameras.CodecH265
		}
		au := cameras.AccessUnit{Codec: codec, SPS: sps, PPS: []byte{0x68}, VPS: []byte{0x40}, Keyframe: true,
			NALUs: [][]byte{{0x65, 0x88}}}
		_, _ = codecString(au) // must not panic
		_, _ = initSegment(au)
	})
}
