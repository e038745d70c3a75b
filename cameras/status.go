package cameras

import (
	"encoding/json"
	"time"
)

// Status is a camera's current state and stream properties, as shown by the API.
type Status struct {
	// ID, Name and Site come from the configuration.
	ID, Name, Site string
	// Labels are the configured extra labels (a copy).
	Labels map[string]string
	// URL is the stream URL without userinfo.
	URL string
	// State is the health state and Reason says why, in words.
	State State
	// Reason explains State (sanitized).
	Reason string
	// Since is when State began.
	Since time.Time
	// Uptime is how long the current session has been delivering video; 0 when not streaming.
	Uptime time.Duration
	// Codec is "H264", "H265", another codec name, or "" before the first DESCRIBE.
	Codec string
	// Width, Height and Profile come from the SPS.
	Width, Height int
	// Profile is the codec profile, e.g. "High" or "Constrained Baseline".
	Profile string
	// FPS is the measured frame rate; NominalFPS the rate the SPS announces (0 if it does not).
	FPS, NominalFPS float64
	// BitrateBps is the measured RTP bitrate in bits per second.
	BitrateBps float64
	// PacketLossRatio is lost / expected RTP packets over the last few seconds.
	PacketLossRatio float64
	// KeyframeInterval is the time between the last two keyframes; 0 when unknown.
	KeyframeInterval time.Duration
	// LastFrameAge is the time since the last frame (across sessions; since monitor start if none yet).
	LastFrameAge time.Duration
	// Reconnects counts connection attempts after the first.
	Reconnects uint64
	// LastError is the last connection failure (sanitized), and LastErrorTime when it happened.
	LastError string
	// LastErrorTime is when LastError happened.
	LastErrorTime time.Time
}

// MarshalJSON renders Status with snake_case keys and durations in seconds.
func (s Status) MarshalJSON() ([]byte, error) {
	type out struct {
		ID                      string            `json:"id"`
		Name                    string            `json:"name"`
		Site                    string            `json:"site,omitempty"`
		Labels                  map[string]string `json:"labels,omitempty"`
		URL                     string            `json:"url"`
		State                   State             `json:"state"`
		Reason                  string            `json:"reason"`
		Since                   time.Time         `json:"since"`
		UptimeSeconds           float64           `json:"uptime_seconds"`
		Codec                   string            `json:"codec,omitempty"`
		Width                   int               `json:"width,omitempty"`
		Height                  int               `json:"height,omitempty"`
		Profile                 string            `json:"profile,omitempty"`
		FPS                     float64           `json:"fps"`
		NominalFPS              float64           `json:"nominal_fps,omitempty"`
		BitrateBps              float64           `json:"bitrate_bps"`
		PacketLossRatio         float64           `json:"packet_loss_ratio"`
		KeyframeIntervalSeconds float64           `json:"keyframe_interval_seconds,omitempty"`
		LastFrameAgeSeconds     float64           `json:"last_frame_age_seconds"`
		Reconnects              uint64            `json:"reconnects"`
		LastError               string            `json:"last_error,omitempty"`
		LastErrorTime           *time.Time        `json:"last_error_time,omitempty"`
	}
	o := out{
		ID: s.ID, Name: s.Name, Site: s.Site, Labels: s.Labels, URL: s.URL, State: s.State, Reason: s.Reason,
		Since: s.Since, UptimeSeconds: s.Uptime.Seconds(), Codec: s.Codec, Width: s.Width, Height: s.Height,
		Profile: s.Profile, FPS: s.FPS, NominalFPS: s.NominalFPS, BitrateBps: s.BitrateBps,
		PacketLossRatio: s.PacketLossRatio, KeyframeIntervalSeconds: s.KeyframeInterval.Seconds(),
		LastFrameAgeSeconds: s.LastFrameAge.Seconds(), Reconnects: s.Reconnects, LastError: s.LastError,
	}
	if !s.LastErrorTime.IsZero() {
		t := s.LastErrorTime
		o.LastErrorTime = &t
	}
	return json.Marshal(o)
}
