package cameras

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

var testHealthConfig = HealthConfig{
	StallTimeout:    3 * time.Second,
	KeyframeTimeout: 10 * time.Second,
	MinFPSRatio:     0.5,
	MaxLossRatio:    0.05,
	MaxCorruptRatio: 0.2,
}

// streaming returns signals of a healthy 12 fps H.264 session that started at t0, at offset d.
func streaming(d time.Duration) Signals {
	now := at(d)
	return Signals{
		Now: now, Connected: true, SessionStart: t0, LastPacket: now.Add(-50 * time.Millisecond),
		LastKeyframe: now.Add(-500 * time.Millisecond), FPSKnown: true, FPS: 12, NominalFPS: 12,
		Codec: "H264", CodecSupported: true,
	}
}

func with(s Signals, f func(*Signals)) Signals { f(&s); return s }

type healthStep struct {
	sig        Signals
	want       State
	wantReason string // substring
}

// healthCases are sequences fed to one machine; each step checks the state and a reason substring.
var healthCases = []struct {
	name  string
	steps []healthStep
}{
	{"first connection then online", []healthStep{
		{Signals{Now: t0}, StateConnecting, "connecting"},
		{with(streaming(time.Second), func(s *Signals) { s.LastPacket, s.LastKeyframe, s.FPSKnown = time.Time{}, time.Time{}, false }), StateConnecting, "waiting for video"},
		{with(streaming(1500*time.Millisecond), func(s *Signals) { s.LastKeyframe, s.FPSKnown = time.Time{}, false }), StateConnecting, "waiting for a keyframe"},
		{with(streaming(2*time.Second), func(s *Signals) { s.FPSKnown = false }), StateOnline, "streaming H264"},
		{streaming(5 * time.Second), StateOnline, "12.0 fps"},
	}},
	{"refused", []healthStep{
		{Signals{Now: t0, Failure: Failure{Kind: FailureRefused, Detail: "connection refused"}}, StateOffline, "connection refused"},
	}},
	{"unauthorized with and without credentials", []healthStep{
		{Signals{Now: t0, Credentials: true, Failure: Failure{Kind: FailureUnauthorized}}, StateUnauthorized, "rejected the credentials"},
		{Signals{Now: t0, Failure: Failure{Kind: FailureUnauthorized}}, StateUnauthorized, "none are configured"},
	}},
	{"stall in an open session", []healthStep{
		{streaming(5 * time.Second), StateOnline, ""},
		{with(streaming(7*time.Second), func(s *Signals) { s.LastPacket = at(5 * time.Second) }), StateOnline, ""},
		{with(streaming(7999*time.Millisecond), func(s *Signals) { s.LastPacket = at(5 * time.Second) }), StateOnline, ""},
		{with(streaming(8*time.Second), func(s *Signals) { s.LastPacket = at(5 * time.Second) }), StateStalled, "no RTP packets for 3s"},
		// the client's read timeout ends the silent session: still stalled, not offline
		{Signals{Now: at(11 * time.Second), Failure: Failure{Kind: FailureNoData}}, StateStalled, "timed out"},
		// reconnect is pending: keep stalled
		{Signals{Now: at(12 * time.Second), Connected: true, SessionStart: at(12 * time.Second), CodecSupported: true}, StateStalled, "timed out"},
		// the new session is silent too
		{Signals{Now: at(15 * time.Second), Connected: true, SessionStart: at(12 * time.Second), CodecSupported: true}, StateStalled, "no RTP packets in 3s"},
	}},
	{"session open but never a packet", []healthStep{
		{Signals{Now: at(3 * time.Second), Connected: true, SessionStart: t0, CodecSupported: true}, StateStalled, "session open but no RTP packets"},
	}},
	{"disconnect then recovery skips connecting", []healthStep{
		{streaming(5 * time.Second), StateOnline, ""},
		{Signals{Now: at(6 * time.Second), Failure: Failure{Kind: FailureClosed, Detail: "camera closed the connection"}}, StateOffline, "closed the connection"},
		{Signals{Now: at(7 * time.Second), Failure: Failure{Kind: FailureClosed, Detail: "camera closed the connection"}}, StateOffline, "closed"},
		{with(streaming(8*time.Second), func(s *Signals) {
			s.SessionStart, s.LastPacket, s.LastKeyframe = at(8*time.Second), time.Time{}, time.Time{}
		}), StateOffline, "closed"},
		{with(streaming(9*time.Second), func(s *Signals) { s.SessionStart, s.FPSKnown = at(8*time.Second), false }), StateOnline, ""},
	}},
	{"low frame rate", []healthStep{
		{with(streaming(10*time.Second), func(s *Signals) { s.FPS = 5 }), StateDegraded, "frame rate 5.0 fps, camera announces 12.0"},
		{with(streaming(11*time.Second), func(s *Signals) { s.FPS = 6 }), StateOnline, ""},
		{with(streaming(12*time.Second), func(s *Signals) { s.FPS, s.NominalFPS = 1, 0 }), StateOnline, ""}, // no nominal: no judgement
	}},
	{"packet loss", []healthStep{
		{with(streaming(10*time.Second), func(s *Signals) { s.LossRatio = 0.12 }), StateDegraded, "packet loss 12.0%"},
		{with(streaming(10*time.Second), func(s *Signals) { s.LossRatio = 0.05 }), StateOnline, ""},
		{with(streaming(10*time.Second), func(s *Signals) { s.LossRatio, s.CorruptRatio = 0.2, 0.4 }), StateDegraded, "packet loss 20.0%"},
	}},
	// A frame of several packets: loss under its threshold breaks frames over theirs. The loss is the cause.
	{"loss breaks frames", []healthStep{
		{with(streaming(10*time.Second), func(s *Signals) { s.LossRatio, s.CorruptRatio, s.LossCorruptRatio = 0.02, 0.6, 0.6 }), StateDegraded, "packet loss 2.0% breaks frames: 60% corrupt"},
		{with(streaming(11*time.Second), func(s *Signals) { s.LossRatio, s.CorruptRatio, s.LossCorruptRatio = 0.01, 0.3, 0.15 }), StateDegraded, "packet loss 1.0%"},
		{with(streaming(12*time.Second), func(s *Signals) { s.LossRatio, s.CorruptRatio, s.LossCorruptRatio = 0.01, 0.5, 0.2 }), StateDegraded, "undecodable video: 50% of frames corrupt"},
		{with(streaming(13*time.Second), func(s *Signals) { s.LossRatio, s.CorruptRatio, s.LossCorruptRatio = 0.01, 0.1, 0.1 }), StateOnline, ""},
	}},
	{"no keyframe", []healthStep{
		{with(streaming(20*time.Second), func(s *Signals) { s.LastKeyframe = at(10 * time.Second) }), StateDegraded, "no keyframe for 10s"},
		{with(streaming(9*time.Second), func(s *Signals) { s.LastKeyframe = time.Time{} }), StateDegraded, "no keyframe for 10s"}, // pending keeps
		{with(streaming(10*time.Second), func(s *Signals) { s.LastKeyframe = time.Time{} }), StateDegraded, "no decodable keyframe in 10s"},
	}},
	{"garbage video", []healthStep{
		{with(streaming(4*time.Second), func(s *Signals) { s.CorruptRatio = 0.9; s.LastKeyframe = time.Time{} }), StateDegraded, "undecodable video: 90% of frames corrupt"},
	}},
	{"unsupported codec", []healthStep{
		{with(streaming(4*time.Second), func(s *Signals) { s.Codec, s.CodecSupported, s.LastKeyframe = "M-JPEG", false, time.Time{} }), StateDegraded, "M-JPEG is not inspected"},
		{with(streaming(8*time.Second), func(s *Signals) { s.Codec, s.CodecSupported, s.LastPacket = "M-JPEG", false, at(4*time.Second) }), StateStalled, "no RTP packets"},
	}},
	{"tls", []healthStep{
		{Signals{Now: t0, Failure: Failure{Kind: FailureTLS, Detail: "camera TLS certificate does not match tls_fingerprint"}}, StateOffline, "tls_fingerprint"},
	}},
	{"no video track", []healthStep{
		{Signals{Now: t0, Failure: Failure{Kind: FailureNoVideo, Detail: "no video track in the stream (tracks: audio/MPEG-4 Audio)"}}, StateOffline, "no video track"},
	}},
}

func TestHealth(t *testing.T) {
	for _, tc := range healthCases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHealth(testHealthConfig, t0)
			for i, st := range tc.steps {
				got, reason, _ := h.Update(st.sig)
				require.Equal(t, st.want, got, "step %d: reason %q", i, reason)
				require.True(t, strings.Contains(reason, st.wantReason), "step %d: reason %q does not contain %q", i, reason, st.wantReason)
				require.NotEmpty(t, reason, "step %d", i)
			}
		})
	}
}

func TestHealthSince(t *testing.T) {
	h := NewHealth(testHealthConfig, t0)
	_, _, changed := h.Update(streaming(2 * time.Second))
	require.True(t, changed)
	_, _, changed = h.Update(streaming(3 * time.Second))
	require.False(t, changed)
	st, _, since := h.State()
	require.Equal(t, StateOnline, st)
	require.Equal(t, at(2*time.Second), since)
}
