package cameras

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/sdp"
	"github.com/stretchr/testify/require"
)

// Parameter sets and slice-header prefixes from sim/camerasim/testdata (gen-clip.sh).
const (
	h264SPS   = "6742c01ed900a02ff97011000003000100000300180f162e48"
	h264PPS   = "68cb8192c8"
	h264IDR   = "6588845f1088ab830217e1c00027db11e8801045c8a70fb7"
	h264P     = "419a38bf9e10008ad68416210008034cd186500c33f0094a"
	h265VPS   = "40010c01ffff01600000030090000003000003003f928090"
	h265SPS   = "42010101600000030090000003000003003fa0050201696592a4932bc05a020000030002000003001810"
	h265PPS   = "4401c172b46240"
	h265IDR   = "2801af0f4c2de9a773649fe1"
	h265Trail = "0201d0097e10c61e9852dc17"
)

func nalus(hexes ...string) [][]byte {
	out := make([][]byte, len(hexes))
	for i, h := range hexes {
		b, err := hex.DecodeString(h)
		if err != nil {
			panic(err)
		}
		out[i] = b
	}
	return out
}

// inspectCases are access units as the depacketizer hands them over, from valid to hostile.
var inspectCases = []struct {
	name     string
	codec    string
	au       [][]byte
	keyframe bool
	corrupt  string // substring of the error; "" for valid
}{
	{"h264 IDR with parameter sets", CodecH264, nalus(h264SPS, h264PPS, h264IDR), true, ""},
	{"h264 P slice", CodecH264, nalus(h264P), false, ""},
	{"h264 IDR without parameter sets", CodecH264, nalus(h264IDR), false, ""},
	{"h264 empty NALU", CodecH264, [][]byte{{}}, false, "bad NAL header"},
	{"h264 forbidden bit", CodecH264, [][]byte{{0x85, 0x88}}, false, "bad NAL header"},
	{"h264 reserved type", CodecH264, [][]byte{{0x17, 0x00}}, false, "reserved NAL type"},
	{"h264 only SEI", CodecH264, [][]byte{{0x06, 0x05, 0x01}}, false, "no slice"},
	{"h264 truncated slice", CodecH264, [][]byte{{0x41}}, false, "truncated"},
	{"h264 bad slice type", CodecH264, [][]byte{{0x41, 0x80 | 0x00, 0x00, 0x10}}, false, "slice_type"},
	{"h264 IDR nal_ref_idc 0", CodecH264, [][]byte{{0x05, 0x88}}, false, "nal_ref_idc"},
	{"h264 garbage SPS", CodecH264, nalus("67ffffffffff", h264PPS, h264IDR), false, ""},
	{"h265 IDR with parameter sets", CodecH265, nalus(h265VPS, h265SPS, h265PPS, h265IDR), true, ""},
	{"h265 trailing picture", CodecH265, nalus(h265Trail), false, ""},
	{"h265 one-byte NALU", CodecH265, [][]byte{{0x02}}, false, "bad NAL header"},
	{"h265 temporal id 0", CodecH265, [][]byte{{0x02, 0x00, 0xff}}, false, "bad NAL header"},
	{"h265 reserved type", CodecH265, [][]byte{{0x2c << 1, 0x01, 0x00}}, false, "reserved NAL type"},
}

func TestInspect(t *testing.T) {
	for _, tc := range inspectCases {
		t.Run(tc.name, func(t *testing.T) {
			p := &paramSets{codec: tc.codec}
			info, err := p.inspect(tc.au)
			if tc.corrupt != "" {
				require.ErrorContains(t, err, tc.corrupt)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.keyframe, info.keyframe)
		})
	}
}

func TestInspectParameters(t *testing.T) {
	p := &paramSets{codec: CodecH264}
	_, err := p.inspect(nalus(h264SPS, h264PPS, h264IDR))
	require.NoError(t, err)
	require.Equal(t, 640, p.width)
	require.Equal(t, 360, p.height)
	require.Equal(t, "Constrained Baseline", p.profile)
	require.InDelta(t, 12, p.fps, 0.01)
	// A slice that names a PPS we have not seen is corrupt once PPS IDs are known.
	_, err = p.inspect([][]byte{{0x41, 0x88, 0x40}}) // first_mb 0, slice_type 0... pps_id 1
	require.ErrorContains(t, err, "unknown PPS")

	p = &paramSets{codec: CodecH265}
	_, err = p.inspect(nalus(h265VPS, h265SPS, h265PPS, h265IDR))
	require.NoError(t, err)
	require.Equal(t, 640, p.width)
	require.Equal(t, "Main", p.profile)
}

func FuzzInspect(f *testing.F) {
	for _, tc := range inspectCases {
		codec := byte(0)
		if tc.codec == CodecH265 {
			codec = 1
		}
		var joined []byte
		for _, n := range tc.au {
			joined = append(joined, byte(len(n)))
			joined = append(joined, n...)
		}
		f.Add(codec, joined)
	}
	f.Fuzz(func(t *testing.T, codec byte, b []byte) {
		// Split b into NALUs by one-byte length prefixes.
		var au [][]byte
		for len(b) > 0 && len(au) < 32 {
			n := min(int(b[0]), len(b)-1)
			au = append(au, b[1:1+n])
			b = b[1+n:]
		}
		p := &paramSets{codec: CodecH264}
		if codec%2 == 1 {
			p.codec = CodecH265
		}
		info, err := p.inspect(au)
		if err == nil && info.keyframe && (p.sps == nil || p.pps == nil) {
			t.Fatal("keyframe without parameter sets")
		}
	})
}

// sdpCases are SDP bodies a camera may send; pickVideo must choose a track or say why not.
var sdpCases = []struct {
	name, sdp, codec, err string
}{
	{"h264", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n", "H264", ""},
	{"audio then h265", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=0\r\nm=video 0 RTP/AVP 97\r\na=rtpmap:97 H265/90000\r\na=control:trackID=1\r\n", "H265", ""},
	{"mjpeg", "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\na=control:trackID=0\r\n", "M-JPEG", ""},
	{"audio only", audioOnlySDP, "", "no video track"},
}

func TestPickVideo(t *testing.T) {
	for _, tc := range sdpCases {
		t.Run(tc.name, func(t *testing.T) {
			var s sdp.SessionDescription
			require.NoError(t, s.Unmarshal([]byte(tc.sdp)))
			var desc description.Session
			require.NoError(t, desc.Unmarshal(&s))
			_, f, err := pickVideo(&desc)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.codec, f.Codec())
		})
	}
}

func FuzzPickVideo(f *testing.F) {
	for _, tc := range sdpCases {
		f.Add([]byte(tc.sdp))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s sdp.SessionDescription
		if s.Unmarshal(b) != nil {
			return
		}
		var desc description.Session
		if desc.Unmarshal(&s) != nil {
			return
		}
		m, f, err := pickVideo(&desc)
		if err == nil && (m == nil || f == nil) {
			t.Fatal("no track and no error")
		}
		if err != nil && !strings.Contains(err.Error(), "no video track") {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func FuzzSanitize(f *testing.F) {
	f.Add("rtsp://user:pw@host/x failed", "user", "pw")
	f.Add("p@ss word", "u", "p@ss word")
	f.Fuzz(func(t *testing.T, text, user, pass string) {
		out := newSanitizer(user, pass)(text)
		if len(pass) >= 4 && strings.Contains(out, pass) && !strings.Contains(pass, "***") {
			t.Fatalf("password survived: %q", out)
		}
	})
}
