package media

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/cameras/analyze"
	"citywatch/internal/testenv"
)

// mjpegFrame encodes a w×h JPEG whose grey level is n, so successive frames differ.
func mjpegFrame(t testing.TB, w, h int, n uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = n + uint8(i%7)
	}
	var b bytes.Buffer
	require.NoError(t, jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}))
	return b.Bytes()
}

// mjpegAU is the n-th frame of an M-JPEG camera at clipFPS, as the monitor hands it on.
func mjpegAU(t testing.TB, n int) cameras.AccessUnit {
	return cameras.AccessUnit{
		Codec: cameras.CodecMJPEG, NALUs: [][]byte{mjpegFrame(t, 64, 48, uint8(n*10))}, Keyframe: true,
		PTS: int64(n) * 90000 / clipFPS, Time: epoch.Add(time.Duration(n) * time.Second / clipFPS), Session: 1,
		Width: 64, Height: 48,
	}
}

// TestMJPEGSnapshotWithoutFFmpeg: an M-JPEG camera's snapshot is its latest frame, served as is: no ffmpeg
// is needed, and the same frame is served from the cache.
func TestMJPEGSnapshotWithoutFFmpeg(t *testing.T) {
	m, _ := newTestMedia(t, func(c *Config) { c.FFmpegPath = "/nonexistent/ffmpeg" })
	var last cameras.AccessUnit
	for n := range 5 {
		last = mjpegAU(t, n)
		m.OnAccessUnit("cam1", last)
	}
	img, at, err := m.Snapshot(context.Background(), "cam1")
	require.NoError(t, err)
	assert.Equal(t, last.NALUs[0], img, "the latest frame, byte for byte")
	assert.Equal(t, last.Time, at)
	pic, err := jpeg.Decode(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, 64, pic.Bounds().Dx())
	again, _, err := m.Snapshot(context.Background(), "cam1")
	require.NoError(t, err)
	assert.Equal(t, img, again)

	next := mjpegAU(t, 5)
	m.OnAccessUnit("cam1", next)
	img, _, err = m.Snapshot(context.Background(), "cam1")
	require.NoError(t, err)
	assert.Equal(t, next.NALUs[0], img)
	assert.Equal(t, color.GrayModel, mustDecode(t, img).ColorModel())
}

func mustDecode(t *testing.T, b []byte) image.Image {
	t.Helper()
	pic, err := jpeg.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	return pic
}

// TestMJPEGClip: an event clip of an M-JPEG camera is M-JPEG in MP4 that ffprobe reads.
func TestMJPEGClip(t *testing.T) {
	m, _ := newTestMedia(t, func(c *Config) { c.Cameras[0].PreSeconds, c.Cameras[0].PostSeconds = 1, 1 })
	n := 0
	feed := func(frames int) {
		for range frames {
			m.OnAccessUnit("cam1", mjpegAU(t, n))
			n++
		}
	}
	feed(2 * clipFPS)
	at := epoch.Add(time.Duration(n) * time.Second / clipFPS)
	c, err := m.StartClip("cam1", "motion", at)
	require.NoError(t, err)
	feed(3 * clipFPS)
	var path string
	require.Eventually(t, func() bool {
		cl, p, err := m.Clip("cam1", c.ID)
		path = p
		return err == nil && !cl.Recording
	}, 10*time.Second, 10*time.Millisecond)
	cl, _, _ := m.Clip("cam1", c.ID)
	assert.Equal(t, cameras.CodecMJPEG, cl.Codec)
	assert.Equal(t, 64, cl.Width)
	codec, dur := ffprobe(t, path)
	assert.Equal(t, "mjpeg", codec)
	assert.InDelta(t, 2, dur, 3.0/clipFPS)
}

// TestMJPEGLiveRefused: browsers cannot play M-JPEG through Media Source Extensions, so live view answers
// 415 with a message saying to use snapshots, before any upgrade.
func TestMJPEGLiveRefused(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	m.OnAccessUnit("cam1", mjpegAU(t, 0))
	srv := liveServer(t, m)
	resp, err := http.Get(srv.URL + "/live/cam1")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	var e map[string]string
	require.NoError(t, json.Unmarshal(b, &e), "%s", b)
	assert.Contains(t, e["error"], "live view is not supported for MJPEG")
	assert.Contains(t, e["error"], "snapshot")

	// A browser never sees the status of a failed handshake: it gets the reason as a message and a close.
	conn := dialLive(t, srv, "cam1")
	typ, b := readMsg(t, conn)
	require.Equal(t, websocket.TextMessage, typ)
	require.NoError(t, json.Unmarshal(b, &e), "%s", b)
	assert.Equal(t, "error", e["type"])
	assert.Contains(t, e["error"], "live view is not supported for MJPEG")
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, websocket.CloseUnsupportedData, ce.Code)
	assert.Contains(t, ce.Text, "not supported for MJPEG")
}

// TestMJPEGWithGStreamer: a real RTP/JPEG camera (GStreamer's RTSP server) through the monitor into Media and
// the Analyzer, as a deployment wires them: the camera is online, its snapshot is a 320×240 JPEG served
// without ffmpeg, and analysis decodes frames.
func TestMJPEGWithGStreamer(t *testing.T) {
	testenv.SkipShort(t)
	ff := testenv.LookPath(t, "ffmpeg")
	gst := testenv.GstRTSP(t, "mjpeg", testenv.GstMJPEGLaunch)
	m, _ := newTestMedia(t, func(c *Config) { c.FFmpegPath = "/nonexistent/ffmpeg" })
	an, err := analyze.New(analyze.Config{FFmpegPath: ff, Cameras: []analyze.CameraConfig{{ID: "cam1"}}}, analyze.Deps{})
	require.NoError(t, err)
	require.NoError(t, an.Start())
	t.Cleanup(an.Close)
	mon, err := cameras.New(cameras.Config{Cameras: []cameras.CameraConfig{
		{ID: "cam1", URL: gst.URL, Transport: cameras.TransportTCP},
	}}, cameras.Deps{Sink: cameras.Sinks{m, an}})
	require.NoError(t, err)
	require.NoError(t, mon.Start())
	t.Cleanup(mon.Close)

	var st cameras.Status
	require.Eventually(t, func() bool {
		st, err = mon.Camera("cam1")
		return err == nil && st.State == cameras.StateOnline
	}, 15*time.Second, 20*time.Millisecond)
	assert.Equal(t, cameras.CodecMJPEG, st.Codec)
	var img []byte
	require.Eventually(t, func() bool {
		img, _, err = m.Snapshot(context.Background(), "cam1")
		return err == nil
	}, 15*time.Second, 20*time.Millisecond)
	pic, err := jpeg.Decode(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, 320, pic.Bounds().Dx())
	assert.Equal(t, 240, pic.Bounds().Dy())

	require.Eventually(t, func() bool { return an.Status("cam1").Frames > 0 }, 15*time.Second, 20*time.Millisecond)
	as := an.Status("cam1")
	assert.True(t, as.Available)
	assert.Equal(t, analyze.StateAnalysing, as.State)
}
