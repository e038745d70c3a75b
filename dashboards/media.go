package dashboards

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	"citywatch/cameras"
	"citywatch/cameras/media"
	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// MediaAPI serves camera video: snapshots, event clips and the live view.
type MediaAPI interface {
	Snapshot(ctx context.Context, cameraID string) ([]byte, time.Time, error)
	Clips(cameraID string) []media.Clip
	Clip(cameraID, clipID string) (media.Clip, string, error)
	ServeLive(w http.ResponseWriter, r *http.Request, cameraID string)
	// Masked reports whether the camera has a privacy mask (true for an unknown camera).
	Masked(cameraID string) bool
}

// mediaRoutes registers the video routes: each needs the video permission, is scoped to the camera's site,
// and is recorded in the audit log (who saw which camera, when, from where).
func (s *Server) mediaRoutes() {
	if s.deps.Media == nil || s.deps.Cameras == nil {
		return
	}
	video := auth.RouteRule{Action: auth.ActionVideo}
	s.handleFunc(with(video, "GET", "/api/cameras/{id}/snapshot.jpg", true), s.snapshot)
	s.handleFunc(with(video, "GET", "/api/cameras/{id}/clips", true), s.clipList)
	s.handleFunc(with(video, "GET", "/api/cameras/{id}/clips/{clip}", true), s.clipFile)
	s.handleFunc(with(video, "GET", "/api/cameras/{id}/clips/{clip}/thumbnail.jpg", true), s.clipThumbnail(newClipThumbs())) // thumbs.go
	s.handleFunc(with(video, "GET", "/api/cameras/{id}/live", true), s.liveView)
}

// visibleCamera finds camera {id} and answers 404 unless the requester may see its site.
func (s *Server) visibleCamera(w http.ResponseWriter, r *http.Request) (cameras.Status, bool) {
	c, err := s.deps.Cameras.Camera(r.PathValue("id"))
	if err != nil || !s.visible(r, c.Site) {
		WriteError(w, http.StatusNotFound, "camera not found", r.PathValue("id"))
		return cameras.Status{}, false
	}
	return c, true
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	c, ok := s.visibleCamera(w, r)
	if !ok {
		return
	}
	jpeg, at, err := s.deps.Media.Snapshot(r.Context(), c.ID)
	s.audit(r, audit.Record{Action: audit.SnapshotView, Site: c.Site, Camera: c.ID, Success: err == nil})
	switch {
	case errors.Is(err, media.ErrCameraNotFound):
		WriteError(w, http.StatusNotFound, "camera not found", c.ID)
	case errors.Is(err, media.ErrNoKeyframe), errors.Is(err, media.ErrFFmpegUnavailable):
		WriteError(w, http.StatusServiceUnavailable, err.Error(), c.ID)
	case errors.Is(err, context.DeadlineExceeded):
		WriteError(w, http.StatusGatewayTimeout, "snapshot timed out", c.ID)
	case err != nil:
		WriteError(w, http.StatusInternalServerError, err.Error(), c.ID)
	default:
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Last-Modified", at.UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Length", strconv.Itoa(len(jpeg)))
		_, _ = w.Write(jpeg)
	}
}

func (s *Server) clipList(w http.ResponseWriter, r *http.Request) {
	c, ok := s.visibleCamera(w, r)
	if !ok {
		return
	}
	clips := s.deps.Media.Clips(c.ID)
	if clips == nil {
		clips = []media.Clip{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"clips": clips})
}

// clipFile serves a clip's MP4 with Range support (players seek); ?download=1 asks the browser to save it.
func (s *Server) clipFile(w http.ResponseWriter, r *http.Request) {
	c, ok := s.visibleCamera(w, r)
	if !ok {
		return
	}
	clip, path, err := s.deps.Media.Clip(c.ID, r.PathValue("clip"))
	download := r.URL.Query().Get("download") == "1"
	action := audit.ClipPlay
	if download {
		action = audit.ClipDownload
	}
	if errors.Is(err, media.ErrClipNotFound) || errors.Is(err, media.ErrCameraNotFound) {
		WriteError(w, http.StatusNotFound, "clip not found", r.PathValue("clip"))
		return
	}
	if errors.Is(err, media.ErrClipMasking) {
		WriteError(w, http.StatusConflict, "the clip is being masked (privacy mask); try again shortly", r.PathValue("clip"))
		return
	}
	if errors.Is(err, media.ErrClipInProgress) {
		WriteError(w, http.StatusConflict, "the clip is still recording", clip.ID)
		return
	}
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		WriteError(w, http.StatusNotFound, "clip not found", clip.ID)
		return
	}
	defer f.Close()
	// One record per request that starts playback or a download; a player's follow-up range requests for
	// the same clip are part of the same viewing.
	if r.Header.Get("Range") == "" || r.Header.Get("Range") == "bytes=0-" {
		s.audit(r, audit.Record{Action: action, Site: c.Site, Camera: c.ID, Target: clip.ID, Success: true})
	}
	w.Header().Set("Content-Type", "video/mp4")
	if download {
		w.Header().Set("Content-Disposition", `attachment; filename="`+c.ID+"-"+clip.ID+`.mp4"`)
	}
	http.ServeContent(w, r, clip.ID+".mp4", clip.End, f)
}

// liveView streams the camera over a WebSocket (fMP4 for MSE), recording when the viewing starts and stops
// (liveaudit.go: refused retries are one record per series).
func (s *Server) liveView(w http.ResponseWriter, r *http.Request) {
	c, ok := s.visibleCamera(w, r)
	if !ok {
		return
	}
	if refused := s.maskedLive(r, c.ID); refused != nil {
		s.audit(r, audit.Record{Action: audit.LiveViewStart, Site: c.Site, Camera: c.ID, Success: false,
			Detail: "refused: privacy mask"})
		s.deps.Media.ServeLive(w, refused, c.ID) // answers the refusal in the form the client understands
		return
	}
	r = r.WithContext(media.AllowUnmasked(r.Context()))
	s.auditedLive(w, r, c.Site, c.ID, func(w http.ResponseWriter) { s.deps.Media.ServeLive(w, r, c.ID) })
}
