package cameras

import (
	"bytes"
	"image/jpeg"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
)

// TestMonitorMJPEGGStreamer watches a real third-party RTP/JPEG (RFC 2435) stream, GStreamer's RTSP server
// with jpegenc ! rtpjpegpay: the camera is online (every JPEG frame is a keyframe), its frame rate, keyframe
// interval and size are measured, and the sink gets each frame as one complete JPEG.
func TestMonitorMJPEGGStreamer(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	testenv.SkipShort(t)
	gst := testenv.GstRTSP(t, "mjpeg", testenv.GstMJPEGLaunch)
	sink := &countingSink{}
	h := startMonitorWith(t, []CameraConfig{testCamera("mjpeg", gst.URL)}, func(d *Deps) { d.Sink = sink })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("monitor log:\n%s", h.logs.String())
		}
	})
	st := h.waitState(t, "mjpeg", StateOnline, 15*time.Second)
	require.Equal(t, CodecMJPEG, st.Codec)
	require.Eventually(t, func() bool {
		st, _ = h.mon.Camera("mjpeg")
		return st.State == StateOnline && st.FPS >= 5 && st.KeyframeInterval > 0 && st.BitrateBps > 0
	}, minWait, 20*time.Millisecond, "last status %+v", st)
	require.Equal(t, 320, st.Width)
	require.Equal(t, 240, st.Height)
	require.Less(t, st.KeyframeInterval, time.Second, "every MJPEG frame is a keyframe")
	require.Contains(t, st.Reason, "MJPEG")

	require.Eventually(t, func() bool { return sink.keyframes.Load() >= 10 }, minWait, 10*time.Millisecond)
	require.Equal(t, sink.aus.Load(), sink.keyframes.Load(), "every MJPEG frame is a keyframe")
	au := sink.lastKey()
	require.Equal(t, CodecMJPEG, au.Codec)
	require.Len(t, au.NALUs, 1)
	pic, err := jpeg.Decode(bytes.NewReader(au.NALUs[0]))
	require.NoError(t, err)
	require.Equal(t, 320, pic.Bounds().Dx())
	require.Equal(t, 240, pic.Bounds().Dy())
	require.Equal(t, 320, au.Width)
	require.Equal(t, 240, au.Height)
	require.Zero(t, sink.ptsBackwards.Load())

	s, ok := h.app.Last("camera_keyframe_interval_seconds", "camera", "mjpeg")
	require.True(t, ok)
	require.Greater(t, s.V, 0.0)
}

// TestMonitorMJPEGSimulator: the simulator's M-JPEG camera (gortsplib's RTP/JPEG packetizer) is online next
// to an H.264 one, and loss on it degrades it like any camera.
func TestMonitorMJPEGSimulator(t *testing.T) {
	// Not parallel: lost RTP packets corrupt M-JPEG frames, and with other streams competing for the CPU the
	// corruption was seen over its threshold before gortsplib reported the loss ("undecodable video" instead
	// of "packet loss"), so this one runs alone, in the package's sequential phase, as before.
	sim := simtest.Start(t, camerasim.Config{Cameras: 2, MJPEG: []int{2}})
	sink := &countingSink{}
	h := startMonitorWith(t, []CameraConfig{testCamera("h264", sim.URL(1)), testCamera("mjpeg", sim.URL(2))},
		func(d *Deps) { d.Sink = sink })
	h.waitState(t, "h264", StateOnline, 10*time.Second)
	st := h.waitState(t, "mjpeg", StateOnline, 10*time.Second)
	require.Equal(t, CodecMJPEG, st.Codec)
	require.Equal(t, 320, st.Width)

	faultAt := time.Now()
	require.NoError(t, sim.SetFault(2, camerasim.Fault{Kind: camerasim.FaultLoss}))
	ev := h.waitEvent(t, "mjpeg", StateDegraded, faultAt, 15*time.Second)
	require.Contains(t, ev.Reason, "packet loss")
}

// mjpegPacketCases are RTP/JPEG payloads (marker set): a valid 16×16 frame with default tables, a frame with
// in-band quantization tables, and broken ones.
var mjpegPacketCases = []struct {
	name    string
	payload []byte
	ok      bool
}{
	// type-specific 0, offset 0, type 1 (4:2:0), Q 50, 2×2 blocks of 8 pixels, then scan data.
	{"q50 16x16", []byte{0, 0, 0, 0, 1, 50, 2, 2, 0xf8, 0x00, 0xff, 0xd9}, true},
	{"no scan data", []byte{0, 0, 0, 0, 1, 2, 3, 4}, false},
	{"truncated header", []byte{0, 0, 0}, false},
	{"zero size", []byte{0, 0, 0, 0, 1, 50, 0, 0, 0xf8, 0x00}, false},
	// Q 255: a quantization table header follows: MBZ, precision, length 128, then 2×64 bytes (cut short).
	{"short q table", []byte{0, 0, 0, 0, 1, 255, 2, 2, 0, 0, 0, 128, 1, 2, 3}, false},
}

func TestMJPEGFrame(t *testing.T) {
	for _, tc := range mjpegPacketCases {
		t.Run(tc.name, func(t *testing.T) {
			dec := &rtpmjpeg.Decoder{}
			require.NoError(t, dec.Init())
			img, w, h, err := mjpegFrame(dec, &rtp.Packet{Header: rtp.Header{Marker: true}, Payload: tc.payload})
			if !tc.ok {
				require.Error(t, err)
				require.Nil(t, img)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 16, w)
			require.Equal(t, 16, h)
			require.Equal(t, []byte{0xff, 0xd8}, img[:2])
		})
	}
	// A middle fragment without its start waits for the next frame; it is not corrupt.
	dec := &rtpmjpeg.Decoder{}
	require.NoError(t, dec.Init())
	img, _, _, err := mjpegFrame(dec, &rtp.Packet{Payload: []byte{0, 0, 0, 100, 1, 50, 2, 2, 1, 2, 3}})
	require.NoError(t, err)
	require.Nil(t, img)
}

func FuzzMJPEGFrame(f *testing.F) {
	for _, tc := range mjpegPacketCases {
		f.Add(tc.payload, true, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, first []byte, marker bool, second []byte) {
		dec := &rtpmjpeg.Decoder{}
		if err := dec.Init(); err != nil {
			t.Fatal(err)
		}
		for _, p := range [][]byte{first, second} {
			img, w, h, err := mjpegFrame(dec, &rtp.Packet{Header: rtp.Header{Marker: marker}, Payload: p})
			if err == nil && img != nil && (w <= 0 || h <= 0) {
				t.Fatalf("frame without a size: %dx%d", w, h)
			}
			marker = true
		}
	})
}
