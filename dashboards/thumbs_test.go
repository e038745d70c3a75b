package dashboards

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"citywatch/cameras/media"
	"citywatch/internal/testenv"
)

// testClip writes a one-second 640×360 MP4 (ffmpeg's test pattern) and returns its path.
func testClip(t *testing.T, bin string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command(bin, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=10",
		"-t", "1", "-c:v", "mpeg4", "-pix_fmt", "yuv420p", p).CombinedOutput()
	if err != nil {
		t.Fatalf("make a test clip: %v\n%s", err, out)
	}
	return p
}

// TestClipThumbnailExtract: a clip's first frame comes out as a JPEG thumbWidth wide; what is not a video
// file is an error, never a panic or a picture.
func TestClipThumbnailExtract(t *testing.T) {
	bin := testenv.LookPath(t, "ffmpeg")
	clip := testClip(t, bin)
	text := filepath.Join(t.TempDir(), "notes.mp4")
	if err := os.WriteFile(text, []byte("not a video"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"clip", clip, true},
		{"not a video", text, false},
		{"missing", filepath.Join(t.TempDir(), "gone.mp4"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := extractThumb(context.Background(), bin, tc.path)
			if !tc.ok {
				if err == nil {
					t.Fatalf("got a %d-byte thumbnail, want an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(got))
			if err != nil {
				t.Fatalf("not a JPEG: %v", err)
			}
			if cfg.Width != thumbWidth || cfg.Height != 180 {
				t.Errorf("thumbnail %d×%d, want %d×180", cfg.Width, cfg.Height, thumbWidth)
			}
		})
	}
}

// TestClipThumbnailCacheBounded: the cache keeps the newest thumbnails up to its bound and answers a kept one
// without decoding again.
func TestClipThumbnailCacheBounded(t *testing.T) {
	bin := testenv.LookPath(t, "ffmpeg")
	clip := testClip(t, bin)
	th := newClipThumbs()
	th.max = 2
	decodes := 0
	th.ffmpeg = func() (string, error) { decodes++; return bin, nil }
	for _, k := range []string{"a", "b", "c", "c"} {
		if _, err := th.get(context.Background(), k, clip); err != nil {
			t.Fatal(err)
		}
	}
	if th.lru.Len() != 2 || len(th.byKey) != 2 {
		t.Errorf("cache holds %d (%d keys), want its bound 2", th.lru.Len(), len(th.byKey))
	}
	if decodes != 3 {
		t.Errorf("%d decodes for a, b, c, c; want 3 (the second c from the cache)", decodes)
	}
	if _, ok := th.byKey["a"]; ok {
		t.Errorf("the oldest thumbnail was kept past the bound")
	}
}

// thumbMedia is a camera's media with one clip, which may be in any state. Unlike fakeMedia it makes no
// thumbnails itself: the server decodes the clip.
type thumbMedia struct {
	path string
	err  error
}

func (thumbMedia) Snapshot(context.Context, string) ([]byte, time.Time, error) {
	return nil, time.Time{}, nil
}
func (thumbMedia) Clips(string) []media.Clip                            { return nil }
func (thumbMedia) ServeLive(http.ResponseWriter, *http.Request, string) {}
func (thumbMedia) Masked(string) bool                                   { return true }

func (m thumbMedia) Clip(camera, clip string) (media.Clip, string, error) {
	if m.err != nil {
		return media.Clip{}, "", m.err
	}
	return media.Clip{ID: clip, Camera: camera}, m.path, nil
}

// TestClipThumbnailRoute: the route answers the still of a finished clip, and for a clip being re-masked
// (its camera's privacy mask changed) or still recording a 409 without decoding anything.
func TestClipThumbnailRoute(t *testing.T) {
	bin := testenv.LookPath(t, "ffmpeg")
	clip := testClip(t, bin)
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"finished", nil, http.StatusOK},
		{"being masked", media.ErrClipMasking, http.StatusConflict},
		{"recording", media.ErrClipInProgress, http.StatusConflict},
		{"deleted by retention", media.ErrClipNotFound, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{deps: Deps{Media: thumbMedia{path: clip, err: tc.err}, Cameras: fakeCameras{}},
				log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			th := newClipThumbs()
			decoded := false
			th.ffmpeg = func() (string, error) { decoded = true; return bin, nil }
			mux := http.NewServeMux()
			mux.Handle("GET /api/cameras/{id}/clips/{clip}/thumbnail.jpg", s.clipThumbnail(th))
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/cameras/site-a/clips/20261207T120000Z-1/thumbnail.jpg", nil))
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want != http.StatusOK {
				if decoded {
					t.Errorf("a clip that is not ready was decoded")
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "image/jpeg" {
				t.Errorf("Content-Type %q", ct)
			}
			if _, err := jpeg.Decode(rec.Body); err != nil {
				t.Errorf("not a JPEG: %v", err)
			}
		})
	}
}
