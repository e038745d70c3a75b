package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/cameras/media"
	"citywatch/cameras/privacymask"
	"citywatch/cameras/privacymask/masktest"
	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
)

// privacyMask covers the colour bars left of the picture's middle in the simulator's clip.
var privacyMask = privacymask.Mask{{{0.05, 0.3}, {0.6, 0.25}, {0.55, 0.9}, {0.1, 0.85}}}

// h264Stream is the simulator's test clip split into access units as the camera monitor delivers them.
type h264Stream struct {
	sps, pps []byte
	w, h     int
	aus      [][][]byte
}

func loadH264(t *testing.T) *h264Stream {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sim", "camerasim", "testdata", "clip.h264"))
	require.NoError(t, err)
	c, err := camerasim.ParseClip(b, camerasim.CodecH264)
	require.NoError(t, err)
	c = c.WithoutParameterSets()
	return &h264Stream{sps: c.SPS, pps: c.PPS, w: c.Width, h: c.Height, aus: c.AUs}
}

// feed hands n access units at 12 fps to camera id, starting at frame *i.
func (s *h264Stream) feed(m *media.Media, id string, i *int, n int) time.Time {
	start := time.Now().Add(-time.Minute)
	var at time.Time
	for range n {
		au := s.aus[*i%len(s.aus)]
		at = start.Add(time.Duration(*i) * time.Second / 12)
		m.OnAccessUnit(id, cameras.AccessUnit{Codec: cameras.CodecH264, NALUs: au, PTS: int64(*i) * 90000 / 12,
			Keyframe: h264.IsRandomAccess(au), Time: at, Session: 1, SPS: s.sps, PPS: s.pps, Width: s.w, Height: s.h})
		*i++
	}
	return at
}

// TestPrivacyMaskNoPixelLeaves: for every role that watches video without video_unmasked, no pixel inside a
// camera's privacy mask leaves the server: the served snapshot and every frame of the served clip (play and
// download) are black there, and the live view is refused (and audited as refused). An admin holds
// video_unmasked and gets the live stream.
func TestPrivacyMaskNoPixelLeaves(t *testing.T) {
	ff := testenv.LookPath(t, "ffmpeg")
	m, err := media.New(media.Config{DataDir: t.TempDir(), FFmpegPath: ff, PreSeconds: 1, PostSeconds: 2,
		Cameras: []media.CameraConfig{{ID: "site-a", Site: "site-a", PrivacyMask: privacyMask}}}, media.Deps{})
	require.NoError(t, err)
	require.NoError(t, m.Start())
	t.Cleanup(m.Close)
	stream := loadH264(t)
	frame := 0
	stream.feed(m, "site-a", &frame, 30)
	clip, err := m.StartClip("site-a", "motion", stream.feed(m, "site-a", &frame, 1))
	require.NoError(t, err)
	stream.feed(m, "site-a", &frame, 48)
	require.Eventually(t, func() bool { _, _, err := m.Clip("site-a", clip.ID); return err == nil },
		60*time.Second, 20*time.Millisecond)

	s, a, lg := newAccessServer(t)
	s.deps.Media = m
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	token := func(t *testing.T, role auth.Role, video bool) string {
		sites := []string{"site-a"}
		if role == auth.RoleAdmin {
			sites = nil
		}
		tok, err := a.IssueToken(ctx, string(role), role, sites, video, time.Hour)
		require.NoError(t, err)
		return tok
	}
	get := func(t *testing.T, tok, path string) (int, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	idx := masktest.Interior(t, privacyMask, stream.w, stream.h)
	require.Greater(t, len(idx), 1000)

	for _, sub := range []struct {
		role  auth.Role
		video bool
	}{{auth.RoleHealthStaff, false}, {auth.RoleOperator, false}, {auth.RoleViewer, true}} {
		t.Run(string(sub.role), func(t *testing.T) {
			tok := token(t, sub.role, sub.video)
			code, body := get(t, tok, "/api/cameras/site-a/snapshot.jpg")
			require.Equal(t, http.StatusOK, code, "%s", body)
			img, err := jpeg.Decode(bytes.NewReader(body))
			require.NoError(t, err)
			require.Equal(t, 1.0, masktest.DarkShare(masktest.RGB24(img), idx), "snapshot: pixels inside the mask left the server")

			for _, q := range []string{"", "?download=1"} {
				code, body = get(t, tok, "/api/cameras/site-a/clips/"+clip.ID+q)
				require.Equal(t, http.StatusOK, code, "%s", body)
				path := filepath.Join(t.TempDir(), "clip.mp4")
				require.NoError(t, os.WriteFile(path, body, 0o600))
				out, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-i", path,
					"-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").Output()
				require.NoError(t, err)
				size := stream.w * stream.h * 3
				require.Zero(t, len(out)%size)
				require.GreaterOrEqual(t, len(out)/size, 24)
				for f := 0; f < len(out)/size; f++ {
					require.Equal(t, 1.0, masktest.DarkShare(out[f*size:(f+1)*size], idx), "clip%s frame %d: pixels inside the mask left the server", q, f)
				}
			}

			code, body = get(t, tok, "/api/cameras/site-a/live")
			require.Equal(t, http.StatusForbidden, code, "%s", body)
			require.Contains(t, string(body), "video_unmasked")
			conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/cameras/site-a/live",
				http.Header{"Authorization": {"Bearer " + tok}})
			require.NoError(t, err)
			resp.Body.Close()
			_, msg, err := conn.ReadMessage()
			require.NoError(t, err)
			require.Contains(t, string(msg), `"type":"error"`)
			_, _, err = conn.ReadMessage()
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce, "no video may follow the refusal")
			require.Equal(t, websocket.ClosePolicyViolation, ce.Code)
			conn.Close()

			recs, err := lg.Query(ctx, audit.Filter{Actor: "token/" + string(sub.role), Action: audit.LiveViewStart})
			require.NoError(t, err)
			require.Len(t, recs, 2)
			require.False(t, recs[0].Success)
			require.Equal(t, "refused: privacy mask", recs[0].Detail)
		})
	}

	t.Run("admin", func(t *testing.T) {
		tok := token(t, auth.RoleAdmin, false)
		conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/cameras/site-a/live",
			http.Header{"Authorization": {"Bearer " + tok}})
		require.NoError(t, err)
		resp.Body.Close()
		defer conn.Close()
		_, msg, err := conn.ReadMessage()
		require.NoError(t, err)
		var init struct{ Type string }
		require.NoError(t, json.Unmarshal(msg, &init))
		require.Equal(t, "init", init.Type)
	})
}

// TestCameraPrivacyMaskedField: the camera JSON says which cameras are masked, so the UI can offer the
// snapshot instead of a live view that would be refused.
func TestCameraPrivacyMaskedField(t *testing.T) {
	m, err := media.New(media.Config{DataDir: t.TempDir(), Cameras: []media.CameraConfig{
		{ID: "site-a", Site: "site-a", PrivacyMask: privacyMask}, {ID: "site-b", Site: "site-b"}}}, media.Deps{})
	require.NoError(t, err)
	s, a, _ := newAccessServer(t)
	s.deps.Media = m
	tok, err := a.IssueToken(context.Background(), "admin", auth.RoleAdmin, nil, false, time.Hour)
	require.NoError(t, err)
	for id, want := range map[string]bool{"site-a": true, "site-b": false} {
		req := httptest.NewRequest("GET", "/api/cameras/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var got map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		_, present := got["privacy_masked"]
		require.Equal(t, want, present, rec.Body.String())
	}
}
