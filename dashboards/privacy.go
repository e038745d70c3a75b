package dashboards

import (
	"net/http"

	"citywatch/dashboards/auth"
)

// maskedLive returns the request unchanged when its principal may not watch the camera's raw live view (the
// camera has a privacy mask and the principal lacks video_unmasked), so that Media refuses it; nil when the
// live view may be served. Media refuses a masked camera to any request not marked with media.AllowUnmasked,
// so this check decides only the audit record: forgetting it cannot leak video.
func (s *Server) maskedLive(r *http.Request, camera string) *http.Request {
	if !s.deps.Media.Masked(camera) {
		return nil
	}
	if p, ok := auth.FromContext(r.Context()); ok && p.Can(auth.ActionVideoUnmasked) {
		return nil
	}
	return r
}

// privacyMasked reports whether the camera has privacy masks, for the camera's JSON ("privacy_masked": its
// live view needs video_unmasked, its snapshots and clips are masked). A server without media reports false:
// it serves no video at all.
func (s *Server) privacyMasked(camera string) bool {
	return s.deps.Media != nil && s.deps.Media.Masked(camera)
}
