package media

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
)

func liveServer(t *testing.T, m *Media) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.ServeLive(w, r, strings.TrimPrefix(r.URL.Path, "/live/"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// viewing feeds the first frames of the clip file (codec) to m's cam1 and dials a live viewer of cam1.
func viewing(t *testing.T, m *Media, file, codec string, frames int) (*httptest.Server, *player, *websocket.Conn) {
	t.Helper()
	srv := liveServer(t, m)
	p := newPlayer(loadClip(t, file, codec))
	p.feed(m, "cam1", frames)
	return srv, p, dialLive(t, srv, "cam1")
}

func dialLive(t *testing.T, srv *httptest.Server, cam string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/live/"+cam, nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readMsg(t *testing.T, conn *websocket.Conn) (int, []byte) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	typ, b, err := conn.ReadMessage()
	require.NoError(t, err)
	return typ, b
}

// readInit reads the TEXT init message and the init segment.
func readInit(t *testing.T, conn *websocket.Conn) (initMessage, fmp4.Init) {
	t.Helper()
	typ, b := readMsg(t, conn)
	require.Equal(t, websocket.TextMessage, typ, "want the init text message first")
	var im initMessage
	require.NoError(t, json.Unmarshal(b, &im))
	typ, b = readMsg(t, conn)
	require.Equal(t, websocket.BinaryMessage, typ)
	var init fmp4.Init
	require.NoError(t, init.Unmarshal(bytes.NewReader(b)))
	return im, init
}

// readFragment reads one fragment and returns its track's decode time and samples.
func readFragment(t *testing.T, conn *websocket.Conn) *fmp4.PartTrack {
	t.Helper()
	typ, b := readMsg(t, conn)
	require.Equal(t, websocket.BinaryMessage, typ, "want a fragment, got %q", b)
	var parts fmp4.Parts
	require.NoError(t, parts.Unmarshal(b))
	require.Len(t, parts, 1)
	require.Len(t, parts[0].Tracks, 1)
	return parts[0].Tracks[0]
}

func TestLiveErrorsBeforeUpgrade(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	srv := liveServer(t, m)
	for _, c := range []struct {
		cam    string
		status int
	}{{"nope", http.StatusNotFound}, {"cam1", http.StatusServiceUnavailable}} {
		resp, err := http.Get(srv.URL + "/live/" + c.cam)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, c.status, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var e map[string]string
		require.NoError(t, json.Unmarshal(b, &e), "%s", b)
		assert.NotEmpty(t, e["error"])
	}
}

func TestLiveStream(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	srv := liveServer(t, m)
	clip := loadClip(t, "clip.h264", cameras.CodecH264)
	p := newPlayer(clip)
	p.feed(m, "cam1", clipFPS+6) // the latest GOP starts at frame 12 and has 6 frames

	conn := dialLive(t, srv, "cam1")
	im, init := readInit(t, conn)
	assert.Equal(t, "init", im.Type)
	assert.Equal(t, `video/mp4; codecs="avc1.42c01e"`, im.MIME) // Constrained Baseline, level 3.0
	require.Len(t, init.Tracks, 1)
	assert.Equal(t, uint32(90000), init.Tracks[0].TimeScale)
	codec, ok := init.Tracks[0].Codec.(*mp4.CodecH264)
	require.True(t, ok, "%T", init.Tracks[0].Codec)
	assert.Equal(t, clip.SPS, codec.SPS)

	require.Eventually(t, func() bool { return testutil.ToFloat64(m.met.liveViewers) == 1 }, 5*time.Second, 5*time.Millisecond)
	// The buffered GOP comes at once (one fragment per frame, the newest held back until the next frame).
	var last uint64
	for i := range 5 {
		tr := readFragment(t, conn)
		require.Len(t, tr.Samples, 1)
		assert.Equal(t, uint64(i)*90000/clipFPS, tr.BaseTime, "fragment %d", i)
		assert.Equal(t, i != 0, tr.Samples[0].IsNonSyncSample, "fragment %d", i)
		assert.Equal(t, uint32(90000/clipFPS), tr.Samples[0].Duration)
		last = tr.BaseTime
	}
	// New frames stream live, decode times increasing.
	p.feed(m, "cam1", 10)
	for range 10 {
		tr := readFragment(t, conn)
		assert.Greater(t, tr.BaseTime, last)
		last = tr.BaseTime
	}

	// A new session sends a new init; the timeline continues.
	p.session++
	p.i, p.n = 0, 0
	p.feed(m, "cam1", 3)
	tr := readFragment(t, conn) // the last frame of the old session
	assert.Greater(t, tr.BaseTime, last)
	last = tr.BaseTime
	im, _ = readInit(t, conn)
	assert.Equal(t, "init", im.Type)
	tr = readFragment(t, conn)
	assert.Greater(t, tr.BaseTime, last)
	assert.False(t, tr.Samples[0].IsNonSyncSample)

	// The client leaves: the viewer goes away.
	conn.Close()
	require.Eventually(t, func() bool { return testutil.ToFloat64(m.met.liveViewers) == 0 }, 5*time.Second, 5*time.Millisecond)
	p.feed(m, "cam1", 2)
	m.camera("cam1").mu.Lock()
	assert.Empty(t, m.camera("cam1").viewers)
	m.camera("cam1").mu.Unlock()
}

func TestLiveH265MIME(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	_, _, conn := viewing(t, m, "clip.h265", cameras.CodecH265, 3)
	im, init := readInit(t, conn)
	assert.Equal(t, `video/mp4; codecs="hvc1.1.6.L63.90"`, im.MIME)
	_, ok := init.Tracks[0].Codec.(*mp4.CodecH265)
	assert.True(t, ok)
	tr := readFragment(t, conn)
	assert.Equal(t, uint64(0), tr.BaseTime)
}

func TestLiveSlowViewerDropped(t *testing.T) {
	m, _ := newTestMedia(t, func(c *Config) {
		c.LiveQueueFrames = 8
		c.LiveWriteTimeout = time.Minute // the kill must not wait for the write timeout
	})
	_, p, conn := viewing(t, m, "clip.h264", cameras.CodecH264, 1) // and never reads
	require.Eventually(t, func() bool { return testutil.ToFloat64(m.met.liveViewers) == 1 }, 5*time.Second, 5*time.Millisecond)

	// Large frames fill the socket buffers; the feeder must never block.
	big := [][]byte{append([]byte{0x41}, make([]byte, 512<<10)...)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			au := p.next()
			au.NALUs, au.Keyframe = big, false
			au.PTS = int64(i+1) * 90000 / clipFPS
			m.OnAccessUnit("cam1", au)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("OnAccessUnit blocked on a slow viewer")
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(m.met.dropped.WithLabelValues(dropLiveSlow)) == 1 &&
			testutil.ToFloat64(m.met.liveViewers) == 0
	}, 10*time.Second, 10*time.Millisecond)
	_ = conn
}

func TestLiveCloseEndsViewers(t *testing.T) {
	m, _ := newTestMedia(t, nil)
	srv, _, conn := viewing(t, m, "clip.h264", cameras.CodecH264, 2)
	readInit(t, conn)
	readFragment(t, conn)
	m.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	var err error
	for err == nil {
		_, _, err = conn.ReadMessage()
	}
	assert.True(t, websocket.IsCloseError(err, websocket.CloseGoingAway), "%v", err)
	resp, err := http.Get(srv.URL + "/live/cam1")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}
