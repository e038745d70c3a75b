package browser_test

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"citywatch/internal/testenv"
)

// csp is the Content-Security-Policy the dashboard pages need: dashboards/web.go's policy plus media-src
// blob:, because Media Source Extensions play from a blob: URL (URL.createObjectURL(mediaSource)), which
// 'self' does not cover — without it chromium blocks the live video ("Loading media from 'blob:…' violates
// … default-src 'self'").
const csp = "default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'"

// fmp4 is a fragmented MP4 split the way the live endpoint sends it: the init segment and one fragment per
// frame.
type fmp4 struct {
	init  []byte
	frags [][]byte
}

// encodeClip makes a few seconds of H.264 Constrained Baseline test pattern, one fragment per frame.
func encodeClip(t *testing.T, seconds, fps int) fmp4 {
	t.Helper()
	ffmpeg := testenv.LookPath(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc=size=320x240:rate=%d", fps), "-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-profile:v", "baseline", "-level", "3.0", "-pix_fmt", "yuv420p", "-g", fmt.Sprint(fps),
		"-f", "mp4", "-movflags", "frag_every_frame+empty_moov+default_base_moof", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := readFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var clip fmp4
	var frag []byte
	for len(data) >= 8 {
		size := int(binary.BigEndian.Uint32(data))
		if size == 1 && len(data) >= 16 {
			size = int(binary.BigEndian.Uint64(data[8:]))
		}
		if size == 0 {
			size = len(data)
		}
		if size < 8 || size > len(data) {
			t.Fatalf("bad MP4 box size %d with %d bytes left", size, len(data))
		}
		box, kind := data[:size], string(data[4:8])
		data = data[size:]
		switch kind {
		case "ftyp", "moov":
			clip.init = append(clip.init, box...)
		case "moof":
			frag = append([]byte(nil), box...)
		case "mdat":
			clip.frags = append(clip.frags, append(frag, box...))
			frag = nil
		}
	}
	if len(clip.init) == 0 || len(clip.frags) < seconds*fps/2 {
		t.Fatalf("clip has init %d bytes and %d fragments", len(clip.init), len(clip.frags))
	}
	return clip
}

// TestLivePlayer plays a fake camera through the dashboard's LivePlayer (web/js/video.js) under the
// dashboard's CSP: the video advances, survives a new init segment (a camera session change) and a dropped
// connection (the server's "viewer too slow" close).
func TestLivePlayer(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	newBrowserPath(t)
	const fps = 12
	clip := encodeClip(t, 3, fps)
	mime := `video/mp4; codecs="avc1.42C01E"`

	var conns, inits atomic.Int32
	upgrader := websocket.Upgrader{}
	mux := http.NewServeMux()
	web := http.FileServer(http.Dir(filepath.Join(repoRoot(t), "dashboards", "web")))
	mux.Handle("/ui/", http.StripPrefix("/ui", web))
	mux.HandleFunc("/player.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>player</title><video id="v" muted autoplay playsinline></video><script type="module" src="/player.js"></script>`)
	})
	mux.HandleFunc("/player.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `import { LivePlayer } from "/ui/js/video.js";
window.states = [];
window.player = new LivePlayer(document.getElementById("v"), "cam1", { onState: (s, why) => window.states.push(s + (why ? ": " + why : "")) });
window.player.start();`)
	})
	mux.HandleFunc("/api/cameras/cam1/live", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer ws.Close()
		n := conns.Add(1)
		go func() { // read (and discard) so close frames are handled
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		send := func() error {
			inits.Add(1)
			if err := ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"init","mime":%q}`, mime)); err != nil {
				return err
			}
			if err := ws.WriteMessage(websocket.BinaryMessage, clip.init); err != nil {
				return err
			}
			for _, f := range clip.frags {
				if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
					return err
				}
				time.Sleep(time.Second / fps) // a camera's pace
			}
			return nil
		}
		// The first connection plays two sessions back to back (the second restarts the timeline with a new
		// init), then is dropped as a slow viewer; later connections stream until the client leaves.
		sessions := 2
		if n > 1 {
			sessions = 100
		}
		for range sessions {
			if send() != nil {
				return
			}
		}
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "viewer too slow"), time.Now().Add(time.Second))
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	b := newBrowser(t, srv.URL)
	if !eval[bool](b, fmt.Sprintf(`typeof MediaSource !== "undefined" && MediaSource.isTypeSupported(%s)`, js(mime))) {
		t.Fatalf("this chromium cannot play %s through Media Source Extensions", mime)
	}
	b.do(20*time.Second, navigate(srv.URL+"/player.html"))
	const video = `document.getElementById("v")`
	b.waitJS(20*time.Second, video+`.readyState >= 2 && `+video+`.currentTime > 0`)
	start := eval[float64](b, video+".currentTime")
	b.waitJS(20*time.Second, fmt.Sprintf(`%s.currentTime > %v + 1`, video, start))

	// The second session's init replaces the MediaSource; the picture continues.
	eventually(t, 20*time.Second, func() string {
		if inits.Load() < 2 {
			return "the server has not started the second session"
		}
		return ""
	})
	b.waitJS(20*time.Second, `window.states.filter(s => s === "playing").length > 0 && `+video+`.readyState >= 2`)

	// The server drops the first connection; the player reconnects with backoff and plays again.
	eventually(t, 30*time.Second, func() string {
		if conns.Load() < 2 {
			return "the player has not reconnected"
		}
		return ""
	})
	b.waitJS(20*time.Second, `window.states.some(s => s.startsWith("waiting")) && `+video+`.readyState >= 2 && !`+video+`.paused`)
	now := eval[float64](b, video+".currentTime")
	b.waitJS(20*time.Second, fmt.Sprintf(`%s.currentTime > %v + 1`, video, now))
	t.Logf("player states: %v", eval[[]string](b, "window.states"))
	eval[any](b, "window.player.stop(), null")
}
