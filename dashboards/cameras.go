package dashboards

import (
	"errors"
	"net/http"
	"time"

	"citywatch/cameras"
)

// CameraInfo is what the REST API reads from the camera monitor.
type CameraInfo interface {
	Cameras() []cameras.Status
	Camera(id string) (cameras.Status, error)
}

// cameraView is the JSON shape of a camera: durations in seconds, never a credential (the monitor's Status
// already carries URLs without userinfo).
type cameraView struct {
	ID                      string            `json:"id"`
	Name                    string            `json:"name"`
	Site                    string            `json:"site"`
	Labels                  map[string]string `json:"labels,omitempty"`
	URL                     string            `json:"url"`
	State                   string            `json:"state"`
	Reason                  string            `json:"reason"`
	Since                   time.Time         `json:"since"`
	UptimeSeconds           float64           `json:"uptime_seconds"`
	Codec                   string            `json:"codec,omitempty"`
	Width                   int               `json:"width,omitempty"`
	Height                  int               `json:"height,omitempty"`
	Profile                 string            `json:"profile,omitempty"`
	FPS                     float64           `json:"fps"`
	NominalFPS              float64           `json:"nominal_fps"`
	BitrateBps              float64           `json:"bitrate_bps"`
	PacketLossRatio         float64           `json:"packet_loss_ratio"`
	KeyframeIntervalSeconds float64           `json:"keyframe_interval_seconds"`
	LastFrameAgeSeconds     float64           `json:"last_frame_age_seconds"`
	Reconnects              uint64            `json:"reconnects"`
	LastError               string            `json:"last_error,omitempty"`
	LastErrorTime           *time.Time        `json:"last_error_time,omitempty"`
	// Analysis says whether motion and tamper analysis runs for this camera, and why not.
	Analysis string `json:"analysis"`
}

func newCameraView(s cameras.Status) cameraView {
	v := cameraView{
		ID: s.ID, Name: s.Name, Site: s.Site, Labels: s.Labels, URL: s.URL, State: string(s.State), Reason: s.Reason,
		Since: s.Since, UptimeSeconds: s.Uptime.Seconds(), Codec: s.Codec, Width: s.Width, Height: s.Height,
		Profile: s.Profile, FPS: s.FPS, NominalFPS: s.NominalFPS, BitrateBps: s.BitrateBps,
		PacketLossRatio: s.PacketLossRatio, KeyframeIntervalSeconds: s.KeyframeInterval.Seconds(),
		LastFrameAgeSeconds: s.LastFrameAge.Seconds(), Reconnects: s.Reconnects, LastError: s.LastError,
		Analysis: "unavailable: motion and tamper analysis is not built yet",
	}
	if !s.LastErrorTime.IsZero() {
		t := s.LastErrorTime
		v.LastErrorTime = &t
	}
	return v
}

func (s *Server) cameraList(w http.ResponseWriter, r *http.Request) {
	list := s.deps.Cameras.Cameras()
	out := make([]cameraView, len(list))
	for i, c := range list {
		out[i] = newCameraView(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"cameras": out})
}

func (s *Server) camera(w http.ResponseWriter, r *http.Request) {
	c, err := s.deps.Cameras.Camera(r.PathValue("id"))
	if errors.Is(err, cameras.ErrCameraNotFound) {
		WriteError(w, http.StatusNotFound, "camera not found", r.PathValue("id"))
		return
	}
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, newCameraView(c))
}
