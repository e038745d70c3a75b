package dashboards

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"time"

	"citywatch/alerts"
	"citywatch/cameras/media"
	"citywatch/dashboards/auth"
)

// evidenceRoutes registers the silence preview and the camera timeline. Both read only: the preview shows what
// a silence would mute before it is created, the timeline what happened at a camera.
func (s *Server) evidenceRoutes() {
	if s.deps.Alerts == nil {
		return
	}
	s.handleFunc(auth.RouteRule{Method: "POST", Pattern: "/api/silences/preview", Action: auth.ActionSilence,
		Body: `{}`, OK: http.StatusBadRequest}, s.silencePreview)
	if s.deps.Cameras != nil {
		s.handleFunc(with(auth.RouteRule{Action: auth.ActionRead}, "GET", "/api/cameras/{id}/timeline", true), s.cameraTimeline)
	}
}

// maxPreview bounds the alerts a silence preview lists; Count says how many matched in all.
const maxPreview = 200

// silencePreviewJSON is the answer of POST /api/silences/preview.
type silencePreviewJSON struct {
	// Alerts are the active (pending and firing) alerts the requester can see that the matchers match, newest
	// first, at most maxPreview; Count counts them all.
	Alerts []alerts.Alert `json:"alerts"`
	Count  int            `json:"count"`
	// Permitted is false when the requester could not create this silence (a site-limited user without a
	// site="…" matcher confined to their sites): the dialog says so before the user submits.
	Permitted bool `json:"permitted"`
}

// silencePreview lists the active alerts that a silence with the given matchers would mute, with the matcher
// the silence itself uses (alerts.SilenceMatcher), so the preview cannot disagree with the silence.
func (s *Server) silencePreview(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Matchers []alerts.Matcher `json:"matchers"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	match, err := alerts.SilenceMatcher(body.Matchers)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	out := silencePreviewJSON{Alerts: []alerts.Alert{},
		Permitted: s.silenceVisible(r, alerts.Silence{Matchers: body.Matchers})}
	for _, st := range []alerts.State{alerts.StateFiring, alerts.StatePending} {
		list, err := s.deps.Alerts.Alerts(r.Context(), alerts.AlertFilter{State: st, Limit: 10000})
		if err != nil {
			WriteError(w, http.StatusInternalServerError, err.Error(), nil)
			return
		}
		for _, a := range visibleOnly(s, r, list, alertSite) {
			if !match(a.Labels) {
				continue
			}
			out.Count++
			if len(out.Alerts) < maxPreview {
				out.Alerts = append(out.Alerts, a)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// TimelineEvent is one entry of a camera's timeline.
type TimelineEvent struct {
	// Time is when it happened: a clip's first event, an alert's start or end.
	Time time.Time `json:"time"`
	// Kind is "clip" (a recorded event: motion, tamper), "alert" (an alert about the camera started) or
	// "resolved" (it ended).
	Kind string `json:"kind"`
	// Reason is the clip's reason or the alert's rule; State the alert's state.
	Reason string `json:"reason"`
	State  string `json:"state,omitempty"`
	// Clip is the clip ID (play it at /api/cameras/{id}/clips/{clip}); set only for principals with video.
	// On an "alert" entry it is the finished clip recorded nearest the alert's start (alertClip), if any.
	Clip string `json:"clip,omitempty"`
	// Alert is the alert ID; Flapping marks a flapping alert.
	Alert    int64 `json:"alert,omitempty"`
	Flapping bool  `json:"flapping,omitempty"`
	// Recording is true while the clip is still being recorded.
	Recording bool `json:"recording,omitempty"`
}

// maxTimeline bounds the entries of a camera timeline, newest first.
const maxTimeline = 500

// cameraTimeline merges what citywatch recorded about one camera, newest first: its event clips (motion,
// tamper; only for principals who may watch video) and the start and end of the alerts that name it (offline,
// stalled, tamper, motion; flapping episodes once). Site scoping is the route's: another site's camera is a
// 404, as a missing one.
func (s *Server) cameraTimeline(w http.ResponseWriter, r *http.Request) {
	c, ok := s.visibleCamera(w, r)
	if !ok {
		return
	}
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "since must be an RFC 3339 time", v)
			return
		}
		since = t
	}
	events := []TimelineEvent{}
	var clips []media.Clip
	if s.deps.Media != nil && s.mayWatch(r) {
		clips = s.deps.Media.Clips(c.ID)
		for _, cl := range clips {
			if !cl.EventTime.Before(since) {
				events = append(events, TimelineEvent{Time: cl.EventTime, Kind: "clip", Reason: cl.Reason, Clip: cl.ID,
					Recording: cl.Recording})
			}
		}
	}
	list, err := s.deps.Alerts.Alerts(r.Context(), alerts.AlertFilter{Site: c.Site, Since: since, Limit: 10000})
	if err != nil && !errors.Is(err, alerts.ErrInvalid) {
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	for _, a := range list {
		if a.Labels["camera"] != c.ID || a.State == alerts.StatePending {
			continue
		}
		events = append(events, TimelineEvent{Time: a.ActiveAt, Kind: "alert", Reason: a.Rule, State: string(a.State),
			Alert: a.ID, Flapping: a.Flapping, Clip: alertClip(clips, a.ActiveAt)})
		if a.State == alerts.StateResolved {
			events = append(events, TimelineEvent{Time: a.ResolvedAt, Kind: "resolved", Reason: a.Rule,
				State: string(a.State), Alert: a.ID})
		}
	}
	slices.SortStableFunc(events, func(a, b TimelineEvent) int { return cmp.Compare(b.Time.UnixNano(), a.Time.UnixNano()) })
	if len(events) > maxTimeline {
		events = events[:maxTimeline]
	}
	writeJSON(w, http.StatusOK, map[string]any{"camera": c.ID, "site": c.Site, "events": events,
		"privacy_masked": s.privacyMasked(c.ID)})
}

// mayWatch reports whether the requester may watch video (clips are video: viewers need the video grant).
func (s *Server) mayWatch(r *http.Request) bool {
	if s.deps.Auth == nil {
		return true
	}
	p, ok := auth.FromContext(r.Context())
	return ok && p.Can(auth.ActionVideo)
}
