package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// AlertsAPI is what the REST API reads from and asks of the alert manager.
type AlertsAPI interface {
	Alerts(ctx context.Context, f alerts.AlertFilter) ([]alerts.Alert, error)
	Alert(ctx context.Context, id int64) (alerts.Alert, error)
	Ack(ctx context.Context, id int64, who, comment string) error
	Assign(ctx context.Context, id int64, who string) error
	Silences() []alerts.Silence
	AddSilence(ctx context.Context, s alerts.Silence) (string, error)
	ExpireSilence(ctx context.Context, id string) error
	Rules() []alerts.RuleStatus
}

// DeliveriesAPI is the notification log.
type DeliveriesAPI interface {
	Deliveries(ctx context.Context, f notify.DeliveryFilter) ([]notify.Delivery, error)
	Replay(ctx context.Context, id int64) error
}

// maxBody bounds every JSON request body, whatever http.limits.max_body_bytes says (limitBodies applies that).
const maxBody = 1 << 20

// decodeBody reads a JSON body strictly: unknown fields and trailing data are 400s, an oversized body 413.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		WriteError(w, http.StatusRequestEntityTooLarge, "request body too large", map[string]int64{"limit_bytes": tooBig.Limit})
		return false
	}
	if err != nil && !errors.Is(err, io.EOF) {
		WriteError(w, http.StatusBadRequest, "invalid request body: "+err.Error(), nil)
		return false
	}
	if dec.More() {
		WriteError(w, http.StatusBadRequest, "invalid request body: trailing data", nil)
		return false
	}
	return true
}

func (s *Server) alertRoutes() {
	if s.deps.Alerts != nil {
		read := auth.RouteRule{Action: auth.ActionRead}
		s.handleFunc(with(read, "GET", "/api/alerts", false), s.alertList)
		s.handleFunc(with(read, "GET", "/api/alerts/{id}", true), s.alertItem)
		s.handleFunc(auth.RouteRule{Method: "POST", Pattern: "/api/alerts/{id}/ack", Action: auth.ActionAck, SiteScoped: true,
			Body: `{"comment":"x"}`}, s.alertAck)
		s.handleFunc(auth.RouteRule{Method: "POST", Pattern: "/api/alerts/{id}/assign", Action: auth.ActionAck, SiteScoped: true,
			Body: `{"assignee":"x"}`}, s.alertAssign)
		s.handleFunc(with(read, "GET", "/api/silences", false), s.silenceList)
		s.handleFunc(auth.RouteRule{Method: "POST", Pattern: "/api/silences", Action: auth.ActionSilence, Body: `{}`,
			OK: http.StatusBadRequest}, s.silenceCreate)
		s.handleFunc(auth.RouteRule{Method: "DELETE", Pattern: "/api/silences/{id}", Action: auth.ActionSilence,
			OK: http.StatusNotFound}, s.silenceExpire)
		s.handleFunc(with(read, "GET", "/api/rules", false), s.ruleList)
	}
	if s.deps.ReloadRules != nil {
		s.handleFunc(auth.RouteRule{Method: "POST", Pattern: "/api/rules/reload", Action: auth.ActionManageRules}, s.ruleReload)
	}
	if s.deps.Deliveries != nil {
		s.handleFunc(auth.RouteRule{Method: "GET", Pattern: "/api/deliveries", Action: auth.ActionReplay}, s.deliveryList)
		s.handleFunc(auth.RouteRule{Method: "POST", Pattern: "/api/deliveries/{id}/replay", Action: auth.ActionReplay,
			OK: http.StatusNotFound}, s.deliveryReplay)
	}
}

func alertSite(a alerts.Alert) string { return a.Labels["site"] }

// limitParam reads the optional ?limit= of a list request: 0 when absent. A value that is not a positive
// integer is answered with 400 and ok false.
func limitParam(w http.ResponseWriter, r *http.Request) (limit int, ok bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		WriteError(w, http.StatusBadRequest, "limit must be a positive integer", v)
		return 0, false
	}
	return n, true
}

func (s *Server) alertList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := alerts.AlertFilter{State: alerts.State(q.Get("state")), Site: q.Get("site")}
	var ok bool
	if f.Limit, ok = limitParam(w, r); !ok {
		return
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "since must be an RFC 3339 time", v)
			return
		}
		f.Since = t
	}
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	if p, ok := auth.FromContext(r.Context()); ok && !p.AllSites() {
		// The site filter comes after the query: ask for enough that other sites' alerts cannot crowd out
		// the requester's own.
		f.Limit = 10000
	}
	list, err := s.deps.Alerts.Alerts(r.Context(), f)
	if errors.Is(err, alerts.ErrInvalid) {
		WriteError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	list = visibleOnly(s, r, list, alertSite)
	if len(list) > limit {
		list = list[:limit]
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": list})
}

// visibleAlert finds alert {id} and answers 404 unless the requester may see its site.
func (s *Server) visibleAlert(w http.ResponseWriter, r *http.Request) (alerts.Alert, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var a alerts.Alert
	if err == nil {
		a, err = s.deps.Alerts.Alert(r.Context(), id)
	}
	if err != nil || !s.visible(r, alertSite(a)) {
		WriteError(w, http.StatusNotFound, "alert not found", r.PathValue("id"))
		return alerts.Alert{}, false
	}
	return a, true
}

func (s *Server) alertItem(w http.ResponseWriter, r *http.Request) {
	if a, ok := s.visibleAlert(w, r); ok {
		writeJSON(w, http.StatusOK, a)
	}
}

func actor(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok {
		return p.Actor()
	}
	return "anonymous"
}

func (s *Server) audit(r *http.Request, rec audit.Record) {
	if s.deps.Auth != nil {
		s.deps.Auth.Audit(r, rec)
	}
}

func (s *Server) alertAck(w http.ResponseWriter, r *http.Request) {
	changeAlert(s, w, r, audit.AlertAck, func(a alerts.Alert, body struct {
		Comment string `json:"comment"`
	}) (string, error) {
		return a.Rule, s.deps.Alerts.Ack(r.Context(), a.ID, actor(r), body.Comment)
	})
}

func (s *Server) alertAssign(w http.ResponseWriter, r *http.Request) {
	changeAlert(s, w, r, audit.AlertAssign, func(a alerts.Alert, body struct {
		Assignee string `json:"assignee"`
	}) (string, error) {
		return "assigned to " + body.Assignee, s.deps.Alerts.Assign(r.Context(), a.ID, body.Assignee)
	})
}

// changeAlert makes a change to the alert of r (when the requester may see it) with the JSON body B: change
// returns the audit detail and its error. The change is audited as action, successful when the error is
// nil; the answer is the error or the alert as it is now.
func changeAlert[B any](s *Server, w http.ResponseWriter, r *http.Request, action audit.Action,
	change func(a alerts.Alert, body B) (detail string, err error)) {
	a, ok := s.visibleAlert(w, r)
	if !ok {
		return
	}
	var body B
	if !decodeBody(w, r, &body) {
		return
	}
	detail, err := change(a, body)
	s.audit(r, audit.Record{Action: action, Site: alertSite(a), Target: strconv.FormatInt(a.ID, 10),
		Detail: detail, Success: err == nil})
	if s.alertError(w, err) {
		return
	}
	a, _ = s.deps.Alerts.Alert(r.Context(), a.ID)
	writeJSON(w, http.StatusOK, a)
}

// alertError writes err as the right status and reports whether there was one.
func (s *Server) alertError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, alerts.ErrAlertNotFound), errors.Is(err, alerts.ErrSilenceNotFound):
		WriteError(w, http.StatusNotFound, err.Error(), nil)
	case errors.Is(err, alerts.ErrInvalid):
		WriteError(w, http.StatusBadRequest, err.Error(), nil)
	default:
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
	}
	return true
}

// silenceSites are the sites a silence is limited to by equality matchers on site (none: every site).
func silenceSites(sl alerts.Silence) []string {
	var sites []string
	for _, m := range sl.Matchers {
		if m.Name == "site" && m.Op == "=" {
			sites = append(sites, m.Value)
		}
	}
	return sites
}

// silenceVisible: a site-limited requester sees and changes only silences confined to one of their sites.
func (s *Server) silenceVisible(r *http.Request, sl alerts.Silence) bool {
	if s.deps.Auth == nil {
		return true
	}
	p, _ := auth.FromContext(r.Context())
	if p.AllSites() {
		return true
	}
	sites := silenceSites(sl)
	return len(sites) > 0 && !slices.ContainsFunc(sites, func(site string) bool { return !p.CanSeeSite(site) })
}

func (s *Server) silenceList(w http.ResponseWriter, r *http.Request) {
	out := []alerts.Silence{}
	for _, sl := range s.deps.Alerts.Silences() {
		if s.silenceVisible(r, sl) {
			out = append(out, sl)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"silences": out})
}

func (s *Server) silenceCreate(w http.ResponseWriter, r *http.Request) {
	var sl alerts.Silence
	if !decodeBody(w, r, &sl) {
		return
	}
	if len(sl.Matchers) == 0 {
		WriteError(w, http.StatusBadRequest, "a silence needs at least one matcher", nil)
		return
	}
	if !s.silenceVisible(r, sl) {
		WriteError(w, http.StatusForbidden, "a silence must be limited to your sites with a site=\"…\" matcher", nil)
		return
	}
	sl.CreatedBy = actor(r)
	id, err := s.deps.Alerts.AddSilence(r.Context(), sl)
	s.audit(r, audit.Record{Action: audit.SilenceCreate, Site: firstOr(silenceSites(sl)), Target: id,
		Detail: fmt.Sprintf("%v until %s: %s", sl.Matchers, sl.EndsAt.Format(time.RFC3339), sl.Comment), Success: err == nil})
	if s.alertError(w, err) {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func firstOr(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

func (s *Server) silenceExpire(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	silences := s.deps.Alerts.Silences()
	i := slices.IndexFunc(silences, func(sl alerts.Silence) bool { return sl.ID == id })
	if i < 0 || !s.silenceVisible(r, silences[i]) {
		WriteError(w, http.StatusNotFound, "silence not found", id)
		return
	}
	err := s.deps.Alerts.ExpireSilence(r.Context(), id)
	s.audit(r, audit.Record{Action: audit.SilenceExpire, Site: firstOr(silenceSites(silences[i])), Target: id, Success: err == nil})
	if s.alertError(w, err) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ruleList(w http.ResponseWriter, r *http.Request) {
	rules := s.deps.Alerts.Rules()
	writeJSON(w, http.StatusOK, map[string]any{"rules": rules, "thresholds": ruleThresholds(rules)})
}

func (s *Server) ruleReload(w http.ResponseWriter, r *http.Request) {
	err := s.deps.ReloadRules()
	s.audit(r, audit.Record{Action: audit.RuleChange, Detail: "reload rule files", Success: err == nil})
	if err != nil {
		// A rule file that does not load is the operator's to fix: 422 with the file:line errors; the running
		// rules stay.
		WriteError(w, http.StatusUnprocessableEntity, "rules not reloaded; the running rules stay", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": len(s.deps.Alerts.Rules())})
}

// deliverySites maps alert fingerprints to sites, so a site-limited operator sees only their deliveries.
func (s *Server) deliveryVisible(r *http.Request) func(notify.Delivery) bool {
	if s.deps.Auth == nil {
		return func(notify.Delivery) bool { return true }
	}
	p, _ := auth.FromContext(r.Context())
	if p.AllSites() {
		return func(notify.Delivery) bool { return true }
	}
	sites := map[string]string{}
	if s.deps.Alerts != nil {
		list, _ := s.deps.Alerts.Alerts(r.Context(), alerts.AlertFilter{Limit: 10000})
		for _, a := range list {
			sites[a.Fingerprint] = alertSite(a)
		}
	}
	return func(d notify.Delivery) bool {
		site, ok := sites[d.Fingerprint]
		return ok && p.CanSeeSite(site)
	}
}

func (s *Server) deliveryList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := notify.DeliveryFilter{Receiver: q.Get("receiver"), Status: q.Get("status"), Alert: q.Get("alert")}
	if v := q.Get("before_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "before_id must be an integer", v)
			return
		}
		f.BeforeID = n
	}
	var ok bool
	if f.Limit, ok = limitParam(w, r); !ok {
		return
	}
	list, err := s.deps.Deliveries.Deliveries(r.Context(), f)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	visible := s.deliveryVisible(r)
	out := []notify.Delivery{}
	for _, d := range list {
		if visible(d) {
			out = append(out, d)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}

func (s *Server) deliveryReplay(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		WriteError(w, http.StatusNotFound, "delivery not found", r.PathValue("id"))
		return
	}
	list, err := s.deps.Deliveries.Deliveries(r.Context(), notify.DeliveryFilter{BeforeID: id + 1, Limit: 1})
	if err != nil || len(list) == 0 || list[0].ID != id || !s.deliveryVisible(r)(list[0]) {
		WriteError(w, http.StatusNotFound, "delivery not found", r.PathValue("id"))
		return
	}
	switch err := s.deps.Deliveries.Replay(r.Context(), id); {
	case errors.Is(err, notify.ErrNotFound):
		WriteError(w, http.StatusNotFound, "delivery not found", id)
	case errors.Is(err, notify.ErrNotReplayable):
		WriteError(w, http.StatusConflict, err.Error(), nil)
	case err != nil:
		WriteError(w, http.StatusInternalServerError, err.Error(), nil)
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": "pending"})
	}
}
