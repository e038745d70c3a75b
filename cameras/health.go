package cameras

import (
	"fmt"
	"time"
)

// State is a camera's health state.
type State string

// Camera health states.
const (
	// StateConnecting is the state before the first session delivered video.
	StateConnecting State = "connecting"
	// StateOnline means video is flowing and healthy.
	StateOnline State = "online"
	// StateDegraded means video is flowing but something is wrong with it (frame rate, loss, keyframes,
	// corrupt data, a codec we cannot inspect).
	StateDegraded State = "degraded"
	// StateStalled means the RTSP session is (or was just) open but no RTP packets arrived for StallTimeout.
	StateStalled State = "stalled"
	// StateOffline means the camera cannot be reached or dropped the session.
	StateOffline State = "offline"
	// StateUnauthorized means the camera rejected the credentials (RTSP 401).
	StateUnauthorized State = "unauthorized"
)

// States lists every state, for metrics and API documentation.
func States() []State {
	return []State{StateConnecting, StateOnline, StateDegraded, StateStalled, StateOffline, StateUnauthorized}
}

// Streaming reports whether video is arriving in state s (camera_up is 1).
func (s State) Streaming() bool { return s == StateOnline || s == StateDegraded }

// FailureKind classifies why the last connection attempt or session ended.
type FailureKind int

// Failure kinds.
const (
	// FailureNone means no failure since the last session came up.
	FailureNone FailureKind = iota
	// FailureRefused: the TCP connection was refused or the host is unreachable.
	FailureRefused
	// FailureClosed: the camera closed the connection or session.
	FailureClosed
	// FailureTimeout: the camera did not answer (dial or RTSP request timed out).
	FailureTimeout
	// FailureNoData: an open session delivered nothing until the read timeout ended it.
	FailureNoData
	// FailureUnauthorized: RTSP 401.
	FailureUnauthorized
	// FailureRejected: the camera answered with another error status (404, 503, ...).
	FailureRejected
	// FailureProtocol: the camera spoke broken RTSP or SDP.
	FailureProtocol
	// FailureNoVideo: the stream has no video track.
	FailureNoVideo
	// FailureTLS: the rtsps handshake failed (untrusted or mismatched certificate, not TLS).
	FailureTLS
)

// Failure is the last connection failure with a sanitized human detail.
type Failure struct {
	Kind   FailureKind
	Detail string
}

// Signals are the observations the health machine decides on. Times are zero when the event has not
// happened in the current session.
type Signals struct {
	// Now is the evaluation time.
	Now time.Time
	// Connected is true while an RTSP session is playing.
	Connected bool
	// SessionStart is when the current session started playing.
	SessionStart time.Time
	// LastPacket is the arrival of the last RTP packet of the video track.
	LastPacket time.Time
	// LastKeyframe is the arrival of the last decodable keyframe (IDR with known parameter sets).
	LastKeyframe time.Time
	// FPSKnown is true once a full measurement window has elapsed in this session.
	FPSKnown bool
	// FPS is the measured frame rate over the window.
	FPS float64
	// NominalFPS is the frame rate the camera announces (SPS timing info); 0 when unknown.
	NominalFPS float64
	// LossRatio is lost / expected RTP packets over the window.
	LossRatio float64
	// CorruptRatio is the fraction of access units in the window that could not be decoded.
	CorruptRatio float64
	// LossCorruptRatio is the part of CorruptRatio that lost packets explain: frames that broke after a
	// sequence-number gap, before the next frame that decoded.
	LossCorruptRatio float64
	// Codec is the video codec name, e.g. "H264".
	Codec string
	// CodecSupported is false for video codecs whose frames we cannot inspect (only packet flow is checked).
	CodecSupported bool
	// Failure is the last failure since the current session came up; Kind is FailureNone while healthy.
	Failure Failure
	// Credentials tells whether credentials are configured, to word the unauthorized reason.
	Credentials bool
}

// HealthConfig holds the thresholds of the health machine.
type HealthConfig struct {
	// StallTimeout: no RTP packet for this long in an open session → stalled.
	StallTimeout time.Duration
	// KeyframeTimeout: no decodable keyframe for this long → degraded.
	KeyframeTimeout time.Duration
	// MinFPSRatio: measured fps below MinFPSRatio × nominal fps → degraded.
	MinFPSRatio float64
	// MaxLossRatio: packet loss above this → degraded.
	MaxLossRatio float64
	// MaxCorruptRatio: corrupt access units above this fraction → degraded.
	MaxCorruptRatio float64
}

// Health is the camera health state machine. It is a pure function of its inputs and its previous state:
// no clock, no I/O, so every transition is table-testable.
type Health struct {
	cfg    HealthConfig
	state  State
	reason string
	since  time.Time
}

// NewHealth returns a machine in StateConnecting since start.
func NewHealth(cfg HealthConfig, start time.Time) *Health {
	return &Health{cfg: cfg, state: StateConnecting, reason: "connecting to camera", since: start}
}

// State returns the current state, its reason and since when the state holds.
func (h *Health) State() (State, string, time.Time) { return h.state, h.reason, h.since }

// Update feeds new signals and returns the resulting state and reason, and whether the state changed.
func (h *Health) Update(sig Signals) (State, string, bool) {
	st, reason := h.evaluate(sig)
	changed := st != h.state
	if changed {
		h.since = sig.Now
	}
	h.state, h.reason = st, reason
	return st, reason, changed
}

// evaluate decides the next state. Where the signals are not conclusive yet (reconnecting, a new session
// waiting for its first packet or keyframe) it keeps the previous state, so a reconnect does not flap
// through extra states and a recovery is reported once, when video is back.
func (h *Health) evaluate(sig Signals) (State, string) {
	if !sig.Connected {
		return h.evaluateDisconnected(sig)
	}
	if st, reason, ok := h.evaluateFlow(sig); ok {
		return st, reason
	}
	if !sig.CodecSupported {
		return StateDegraded, fmt.Sprintf("video codec %s is not inspected; only packet flow is monitored", orUnknown(sig.Codec))
	}
	// Loss comes before corruption: lost packets corrupt frames, and the loss is the cause to report. A frame
	// spans several packets (M-JPEG, large keyframes) and one lost packet breaks the rest of it, so the broken
	// frames can cross their threshold while the loss ratio is still under its own: the video is undecodable
	// only when the frames the loss does not explain are over the threshold by themselves.
	if sig.LossRatio > h.cfg.MaxLossRatio {
		return StateDegraded, fmt.Sprintf("packet loss %.1f%%", 100*sig.LossRatio)
	}
	if sig.CorruptRatio > h.cfg.MaxCorruptRatio {
		if sig.CorruptRatio-sig.LossCorruptRatio > h.cfg.MaxCorruptRatio {
			return StateDegraded, fmt.Sprintf("undecodable video: %.0f%% of frames corrupt", 100*sig.CorruptRatio)
		}
		return StateDegraded, fmt.Sprintf("packet loss %.1f%% breaks frames: %.0f%% corrupt", 100*sig.LossRatio,
			100*sig.CorruptRatio)
	}
	if sig.LastKeyframe.IsZero() {
		age := sig.Now.Sub(sig.SessionStart)
		if age >= h.cfg.KeyframeTimeout {
			return StateDegraded, fmt.Sprintf("no decodable keyframe in %s since the session started", round(age))
		}
		return h.pending("session up, waiting for a keyframe")
	}
	if age := sig.Now.Sub(sig.LastKeyframe); age >= h.cfg.KeyframeTimeout {
		return StateDegraded, fmt.Sprintf("no keyframe for %s", round(age))
	}
	if sig.FPSKnown && sig.NominalFPS > 0 && sig.FPS < h.cfg.MinFPSRatio*sig.NominalFPS {
		return StateDegraded, fmt.Sprintf("frame rate %.1f fps, camera announces %.1f fps", sig.FPS, sig.NominalFPS)
	}
	if sig.FPSKnown {
		return StateOnline, fmt.Sprintf("streaming %s at %.1f fps", sig.Codec, sig.FPS)
	}
	return StateOnline, "streaming " + sig.Codec
}

// evaluateFlow checks packet arrival in an open session. ok is false when packets are flowing.
func (h *Health) evaluateFlow(sig Signals) (State, string, bool) {
	if sig.LastPacket.IsZero() {
		age := sig.Now.Sub(sig.SessionStart)
		if age >= h.cfg.StallTimeout {
			return StateStalled, fmt.Sprintf("session open but no RTP packets in %s", round(age)), true
		}
		st, reason := h.pending("session up, waiting for video")
		return st, reason, true
	}
	if age := sig.Now.Sub(sig.LastPacket); age >= h.cfg.StallTimeout {
		return StateStalled, fmt.Sprintf("no RTP packets for %s", round(age)), true
	}
	return "", "", false
}

func (h *Health) evaluateDisconnected(sig Signals) (State, string) {
	f := sig.Failure
	switch f.Kind {
	case FailureNone:
		return h.pending("connecting to camera")
	case FailureUnauthorized:
		if !sig.Credentials {
			return StateUnauthorized, "camera requires credentials (401) and none are configured"
		}
		return StateUnauthorized, "camera rejected the credentials (401)"
	case FailureNoData:
		return StateStalled, "session timed out without video data; reconnecting"
	}
	return StateOffline, f.Detail
}

// pending keeps the previous state while signals are not conclusive (a reconnect in progress, a new session
// waiting for its first packet or keyframe); only the very first connection reports connecting.
func (h *Health) pending(reason string) (State, string) {
	if h.state == StateConnecting || h.state == "" {
		return StateConnecting, reason
	}
	return h.state, h.reason
}

func round(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
