package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"citywatch/cameras"
)

// CameraInfo is what the REST API reads from the camera monitor.
type CameraInfo interface {
	Cameras() []cameras.Status
	Camera(id string) (cameras.Status, error)
}

// AnalysisInfo says whether motion and tamper analysis runs for a camera, and why not.
type AnalysisInfo interface {
	AnalysisStatus(cameraID string) any
}

// cameraJSON is a camera's status (its own JSON: snake_case, durations in seconds, no credentials) with the
// analysis status added as one more field.
type cameraJSON struct {
	status   cameras.Status
	analysis any
	// masked adds "privacy_masked": true (see privacy.go).
	masked bool
}

func (c cameraJSON) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(c.status)
	if err != nil || c.analysis == nil {
		return b, err
	}
	a, err := json.Marshal(c.analysis)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("}"))
	b = append(b, `,"analysis":`...)
	b = append(b, a...)
	if c.masked {
		b = append(b, `,"privacy_masked":true`...)
	}
	return append(b, '}'), nil
}

func (s *Server) cameraView(st cameras.Status) cameraJSON {
	v := cameraJSON{status: st}
	if s.deps.Analysis != nil {
		v.analysis = s.deps.Analysis.AnalysisStatus(st.ID)
	} else {
		v.analysis = map[string]any{"available": false, "state": "unavailable", "reason": "motion and tamper analysis is not configured"}
	}
	v.masked = s.privacyMasked(st.ID)
	return v
}

func (s *Server) cameraList(w http.ResponseWriter, r *http.Request) {
	list := visibleOnly(s, r, s.deps.Cameras.Cameras(), func(c cameras.Status) string { return c.Site })
	out := make([]cameraJSON, len(list))
	for i, c := range list {
		out[i] = s.cameraView(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"cameras": out})
}

func (s *Server) camera(w http.ResponseWriter, r *http.Request) {
	c, err := s.deps.Cameras.Camera(r.PathValue("id"))
	if errors.Is(err, cameras.ErrCameraNotFound) || (err == nil && !s.visible(r, c.Site)) {
		// Another site's camera is as unknown as a missing one: its id must not leak its existence.
		WriteError(w, http.StatusNotFound, "camera not found", r.PathValue("id"))
		return
	}
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, s.cameraView(c))
}
