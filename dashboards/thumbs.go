package dashboards

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"citywatch/cameras"
	"citywatch/cameras/media"
	"citywatch/dashboards/audit"
)

// Clip thumbnails: the camera timeline shows each event clip with a still of its first frame. The still is
// taken from the clip file itself, on demand, so it needs no storage of its own and lives exactly as long as
// its clip (media.retention deletes clips; a deleted clip's thumbnail is a 404). A privacy-masked camera's
// clips are stored with the mask burned in, so their thumbnails are masked too; a clip being re-masked (the
// mask changed) has no thumbnail until it is done, like the clip itself. Decoding is bounded: at most
// thumbConcurrency ffmpeg processes at once, each for at most thumbTimeout and thumbMaxBytes of output, and
// the last thumbCacheEntries stills are kept in memory (about 10–20 KB each at thumbWidth).
const (
	thumbWidth        = 320
	thumbConcurrency  = 2
	thumbTimeout      = 10 * time.Second
	thumbMaxBytes     = 512 << 10
	thumbCacheEntries = 256
)

// ClipThumbnailer is implemented by a MediaAPI that makes clip thumbnails itself (say, stills it keeps from
// recording); the server then asks it instead of decoding the clip file with ffmpeg.
type ClipThumbnailer interface {
	ClipThumbnail(ctx context.Context, cameraID, clipID string) ([]byte, error)
}

// errThumbTooLarge is a decoder answer beyond thumbMaxBytes.
var errThumbTooLarge = errors.New("thumbnail larger than the limit")

// clipThumbs extracts clip thumbnails with ffmpeg and keeps the most recent ones.
type clipThumbs struct {
	sem    chan struct{}
	ffmpeg func() (string, error)
	mu     sync.Mutex
	byKey  map[string]*list.Element
	lru    *list.List // of *thumbEntry, most recent first
	max    int
	logged atomic.Int64 // unix nanoseconds of the last logged failure: at most one a minute
}

type thumbEntry struct {
	key  string
	jpeg []byte
}

func newClipThumbs() *clipThumbs {
	return &clipThumbs{sem: make(chan struct{}, thumbConcurrency), byKey: map[string]*list.Element{}, lru: list.New(),
		max: thumbCacheEntries, ffmpeg: func() (string, error) {
			bin, why := cameras.FindFFmpeg("")
			if bin == "" {
				return "", fmt.Errorf("%w: %s", media.ErrFFmpegUnavailable, why)
			}
			return bin, nil
		}}
}

// get returns the thumbnail of the clip file at path; key names the clip's content (camera, clip, end, mask).
func (c *clipThumbs) get(ctx context.Context, key, path string) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.byKey[key]; ok {
		c.lru.MoveToFront(e)
		jpeg := e.Value.(*thumbEntry).jpeg
		c.mu.Unlock()
		return jpeg, nil
	}
	c.mu.Unlock()
	bin, err := c.ffmpeg()
	if err != nil {
		return nil, err
	}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, thumbTimeout)
	defer cancel()
	jpeg, err := extractThumb(ctx, bin, path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; !ok {
		c.byKey[key] = c.lru.PushFront(&thumbEntry{key: key, jpeg: jpeg})
		for c.lru.Len() > c.max {
			old := c.lru.Remove(c.lru.Back()).(*thumbEntry)
			delete(c.byKey, old.key)
		}
	}
	return jpeg, nil
}

// limitedBuffer fails writes past its limit.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, errThumbTooLarge
	}
	return b.Buffer.Write(p)
}

// extractThumb decodes the first frame of the MP4 at path into a JPEG thumbWidth wide.
func extractThumb(ctx context.Context, bin, path string) ([]byte, error) {
	out := &limitedBuffer{limit: thumbMaxBytes}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-nostdin", "-hide_banner", "-v", "error", "-i", path, "-frames:v", "1",
		"-vf", "scale="+strconv.Itoa(thumbWidth)+":-2", "-q:v", "6", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1")
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := bytes.TrimSpace(stderr.Bytes())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, fmt.Errorf("decode the clip's first frame: %w (%s)", err, msg)
	}
	if out.Len() < 4 || !bytes.HasPrefix(out.Bytes(), []byte{0xff, 0xd8}) {
		return nil, errors.New("decode the clip's first frame: no picture")
	}
	return out.Bytes(), nil
}

// clipThumbnail serves GET /api/cameras/{id}/clips/{clip}/thumbnail.jpg: the clip's first frame as a JPEG.
// Permission video, site-scoped like the clip, audited as a snapshot view of the clip.
func (s *Server) clipThumbnail(th *clipThumbs) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.visibleCamera(w, r)
		if !ok {
			return
		}
		clip, path, err := s.deps.Media.Clip(c.ID, r.PathValue("clip"))
		switch {
		case errors.Is(err, media.ErrClipNotFound), errors.Is(err, media.ErrCameraNotFound):
			WriteError(w, http.StatusNotFound, "clip not found", r.PathValue("clip"))
			return
		case errors.Is(err, media.ErrClipMasking):
			WriteError(w, http.StatusConflict, "the clip is being masked (privacy mask); try again shortly", r.PathValue("clip"))
			return
		case errors.Is(err, media.ErrClipInProgress):
			WriteError(w, http.StatusConflict, "the clip is still recording", clip.ID)
			return
		case err != nil:
			WriteError(w, http.StatusInternalServerError, err.Error(), nil)
			return
		}
		key := c.ID + "/" + clip.ID + "@" + strconv.FormatInt(clip.End.UnixNano(), 10) + "/" + clip.PrivacyMask
		var jpeg []byte
		if tm, ok := s.deps.Media.(ClipThumbnailer); ok {
			jpeg, err = tm.ClipThumbnail(r.Context(), c.ID, clip.ID)
		} else {
			jpeg, err = th.get(r.Context(), key, path)
		}
		s.audit(r, audit.Record{Action: audit.SnapshotView, Site: c.Site, Camera: c.ID, Target: clip.ID, Success: err == nil})
		switch {
		case errors.Is(err, media.ErrFFmpegUnavailable):
			WriteError(w, http.StatusServiceUnavailable, "no thumbnail: ffmpeg is not available", clip.ID)
		case errors.Is(err, context.DeadlineExceeded):
			WriteError(w, http.StatusGatewayTimeout, "thumbnail timed out", clip.ID)
		case errors.Is(err, context.Canceled):
			// The client left.
		case err != nil:
			if now := time.Now().UnixNano(); now-th.logged.Load() > int64(time.Minute) {
				th.logged.Store(now)
				s.log.Warn("clip thumbnail failed (logged at most once a minute)", "camera", c.ID, "clip", clip.ID, "err", err)
			}
			WriteError(w, http.StatusInternalServerError, "no thumbnail: the clip could not be decoded", clip.ID)
		default:
			w.Header().Set("Content-Type", "image/jpeg")
			// Short-lived and private: a camera's mask may change, and its clips (so their stills) are re-masked.
			w.Header().Set("Cache-Control", "private, max-age=300")
			w.Header().Set("Content-Length", strconv.Itoa(len(jpeg)))
			_, _ = w.Write(jpeg)
		}
	}
}
