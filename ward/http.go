package ward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/internal/jsonhttp"
)

// Audit actions of the ward (defined in package audit, so the audit API knows them). Views of an occupant's
// record and every change are recorded with the case id as target, never a name.
const (
	AuditOccupantView = audit.WardOccupantView
	AuditRosterView   = audit.WardRosterView
	AuditRoomCreate   = audit.WardRoomCreate
	AuditBindings     = audit.WardBindings
	AuditCheckIn      = audit.WardCheckIn
	AuditStatusChange = audit.WardStatusChange
	AuditManualRead   = audit.WardManualRead
	AuditExport       = audit.WardExport
	AuditSettings     = audit.WardSettings
)

// Route is one HTTP route of the ward with its access rule; the server registers it behind access control.
type Route struct {
	Rule    auth.RouteRule
	Handler http.Handler
}

// maxBody bounds a ward request body (a check-in form is a few hundred bytes).
const maxBody = 64 << 10

// Routes returns the ward's HTTP API. Every route names its site in the path: principals who cannot see the
// site get 404, as for a missing id, and items are looked up within the site, so an id of another site is 404 too.
func (w *Ward) Routes() []Route {
	rule := func(method, pattern string, a auth.Action, scoped bool, body string, ok int) auth.RouteRule {
		return auth.RouteRule{Method: method, Pattern: pattern, Action: a, SiteScoped: scoped, Body: body, OK: ok}
	}
	read, ward := auth.ActionRead, auth.ActionWard
	bad := http.StatusBadRequest
	return []Route{
		{rule("GET", "/api/ward", read, false, "", 0), http.HandlerFunc(w.sitesList)},
		{rule("GET", "/api/ward/{site}", read, true, "", 0), w.site(w.roster)},
		{rule("POST", "/api/ward/{site}/rooms", ward, true, `{}`, bad), w.site(w.roomCreate)},
		{rule("PUT", "/api/ward/{site}/rooms/{id}/bindings", ward, true, `{"wearables":[]}`, 0), w.site(w.bindings)},
		{rule("POST", "/api/ward/{site}/checkin", ward, true, `{}`, bad), w.site(w.checkIn)},
		{rule("GET", "/api/ward/{site}/occupancies/{id}", read, true, "", 0), w.site(w.occupancy)},
		{rule("POST", "/api/ward/{site}/occupancies/{id}/status", ward, true, `{}`, bad), w.site(w.status)},
		{rule("POST", "/api/ward/{site}/occupancies/{id}/readings", ward, true, `{}`, bad), w.site(w.reading)},
		{rule("GET", "/api/ward/{site}/rounds", read, true, "", 0), w.site(w.rounds)},
		{rule("GET", "/api/ward/{site}/report", read, true, "", 0), w.site(w.report)},
		{rule("GET", "/api/ward/{site}/fhir", read, true, "", 0), w.site(w.fhir)},
		{rule("GET", "/api/ward/{site}/settings", read, true, "", 0), w.site(w.settingsGet)},
		{rule("PUT", "/api/ward/{site}/settings", ward, true, `{"retention_days":-1}`, bad), w.site(w.settingsPut)},
	}
}

// site wraps a handler of one site's items: the site in the path must be visible to the principal (404
// otherwise, as for a site without a ward: auth.SiteHandler).
func (w *Ward) site(h func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return auth.SiteHandler(h)
}

// showPersonal reports whether the request may see personal fields of site's occupants: health staff of the
// site and admins (without access control, in handler tests, nobody).
func showPersonal(r *http.Request, site string) bool {
	p, ok := auth.FromContext(r.Context())
	return ok && p.Can(auth.ActionWard) && p.CanSeeSite(site)
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonhttp.Write(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string, detail any) {
	writeJSON(w, code, map[string]any{"error": msg, "detail": detail})
}

// fail answers err with its status: 404, 409, 400 or 500 (logged, no detail).
func (w *Ward) fail(rw http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(rw, http.StatusNotFound, "not found", nil)
	case errors.Is(err, ErrConflict):
		writeError(rw, http.StatusConflict, err.Error(), nil)
	case errors.Is(err, ErrInvalid):
		writeError(rw, http.StatusBadRequest, err.Error(), nil)
	default:
		w.log.Error("ward request failed", "err", err)
		writeError(rw, http.StatusInternalServerError, "internal error", nil)
	}
}

// decode strictly reads one JSON object of at most maxBody bytes.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("body: %v", err)
	}
	return nil
}

// actor is who the request acts for, for the records' who-fields.
func actor(r *http.Request) (name, role string) {
	if p, ok := auth.FromContext(r.Context()); ok {
		return p.Actor(), string(p.Role)
	}
	return "unknown", ""
}

// record writes an audit entry (failures are counted and logged by the audit log).
func (w *Ward) record(r *http.Request, action, site, target, detail string, ok bool) {
	if w.deps.Audit == nil {
		return
	}
	name, role := actor(r)
	ip := ""
	if w.deps.ClientIP != nil {
		ip = w.deps.ClientIP(r)
	}
	_ = w.deps.Audit.Record(r.Context(), audit.Record{Actor: name, Role: role, Action: action, Site: site,
		Target: target, IP: ip, Detail: detail, Success: ok})
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: id", ErrNotFound)
	}
	return id, nil
}

// sitesList lists the sites with a ward that the principal sees.
func (w *Ward) sitesList(rw http.ResponseWriter, r *http.Request) {
	rooms, err := w.st.Rooms(r.Context(), "")
	if err != nil {
		w.fail(rw, err)
		return
	}
	type siteInfo struct {
		Site  string `json:"site"`
		Rooms int    `json:"rooms"`
	}
	out := []siteInfo{}
	for _, rm := range rooms {
		if !auth.SiteVisible(r, rm.Site) && hasPrincipal(r) {
			continue
		}
		if len(out) == 0 || out[len(out)-1].Site != rm.Site {
			out = append(out, siteInfo{Site: rm.Site})
		}
		out[len(out)-1].Rooms++
	}
	writeJSON(rw, http.StatusOK, map[string]any{"sites": out})
}

func hasPrincipal(r *http.Request) bool {
	_, ok := auth.FromContext(r.Context())
	return ok
}

// RosterRoom is a room in the ward view.
type RosterRoom struct {
	Room
	Occupancy *Occupancy `json:"occupancy,omitempty"`
}

// roster is the ward view: every room of the site with its active occupancy.
func (w *Ward) roster(rw http.ResponseWriter, r *http.Request, site string) {
	personal := showPersonal(r, site)
	rooms, err := w.st.Rooms(r.Context(), site)
	if err != nil {
		w.fail(rw, err)
		return
	}
	occs, err := w.st.Occupancies(r.Context(), site, true, personal)
	if err != nil {
		w.fail(rw, err)
		return
	}
	byRoom := map[int64]*Occupancy{}
	for i := range occs {
		byRoom[occs[i].RoomID] = &occs[i]
	}
	out := make([]RosterRoom, len(rooms))
	for i, rm := range rooms {
		out[i] = RosterRoom{Room: rm, Occupancy: byRoom[rm.ID]}
	}
	if personal && len(occs) > 0 {
		w.record(r, AuditRosterView, site, "", fmt.Sprintf("%d occupants with personal fields", len(occs)), true)
	}
	sc := w.Site(site)
	rounds := make([]string, len(sc.Rounds))
	for i, d := range sc.Rounds {
		rounds[i] = fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	writeJSON(rw, http.StatusOK, map[string]any{"site": site, "time_zone": sc.Location.String(), "rounds": rounds,
		"personal_fields": personal, "rooms": out})
}

func (w *Ward) roomCreate(rw http.ResponseWriter, r *http.Request, site string) {
	var in Room
	if err := decode(r, &in); err != nil {
		w.fail(rw, err)
		return
	}
	in.Site = site
	room, err := w.st.CreateRoom(r.Context(), in)
	if err != nil {
		w.fail(rw, err)
		return
	}
	w.record(r, AuditRoomCreate, site, room.Name, "", true)
	writeJSON(rw, http.StatusCreated, room)
}

func (w *Ward) bindings(rw http.ResponseWriter, r *http.Request, site string) {
	id, err := pathID(r)
	if err != nil {
		w.fail(rw, err)
		return
	}
	var b Bindings
	if err := decode(r, &b); err != nil {
		w.fail(rw, err)
		return
	}
	if err := w.st.SetBindings(r.Context(), site, id, b); err != nil {
		w.fail(rw, err)
		return
	}
	room, err := w.st.Room(r.Context(), site, id)
	if err != nil {
		w.fail(rw, err)
		return
	}
	w.record(r, AuditBindings, site, room.Name, fmt.Sprintf("wearables %v sensors %v camera %s/%s", b.Wearables, b.Sensors, b.Camera, b.Zone), true)
	writeJSON(rw, http.StatusOK, room)
}

func (w *Ward) checkIn(rw http.ResponseWriter, r *http.Request, site string) {
	var in CheckIn
	if err := decode(r, &in); err != nil {
		w.fail(rw, err)
		return
	}
	if in.RoomID <= 0 {
		w.fail(rw, invalid("room_id is required"))
		return
	}
	by, _ := actor(r)
	occ, err := w.st.CheckIn(r.Context(), site, in, by)
	if err != nil {
		w.fail(rw, err)
		return
	}
	w.record(r, AuditCheckIn, site, occ.CaseID, "room "+occ.Room, true)
	if !showPersonal(r, site) {
		occ.Personal = nil
	}
	writeJSON(rw, http.StatusCreated, occ)
}

// occupancy is the occupant's record; every view is audited.
func (w *Ward) occupancy(rw http.ResponseWriter, r *http.Request, site string) {
	id, err := pathID(r)
	if err != nil {
		w.fail(rw, err)
		return
	}
	personal := showPersonal(r, site)
	occ, err := w.st.Occupancy(r.Context(), site, id, personal)
	if err != nil {
		w.fail(rw, err)
		return
	}
	detail := "case id only"
	if personal {
		detail = "with personal fields"
	}
	w.record(r, AuditOccupantView, site, occ.CaseID, detail, true)
	from := occ.Start
	manual, err := w.st.ManualReadings(r.Context(), site, from, w.clk.Now().Add(time.Hour))
	if err != nil {
		w.fail(rw, err)
		return
	}
	mine := []ManualReading{}
	for _, m := range manual {
		if m.OccupancyID == occ.ID {
			mine = append(mine, m)
		}
	}
	writeJSON(rw, http.StatusOK, map[string]any{"occupancy": occ, "manual_readings": mine})
}

func (w *Ward) status(rw http.ResponseWriter, r *http.Request, site string) {
	id, err := pathID(r)
	if err != nil {
		w.fail(rw, err)
		return
	}
	var in struct {
		Status Status `json:"status"`
	}
	if err := decode(r, &in); err != nil {
		w.fail(rw, err)
		return
	}
	if in.Status == StatusActive {
		w.fail(rw, invalid("status: a check-out is released, transferred or hospitalised"))
		return
	}
	by, _ := actor(r)
	occ, err := w.st.SetStatus(r.Context(), site, id, in.Status, by)
	if err != nil {
		w.fail(rw, err)
		return
	}
	w.record(r, AuditStatusChange, site, occ.CaseID, string(in.Status), true)
	writeJSON(rw, http.StatusOK, occ)
}

func (w *Ward) reading(rw http.ResponseWriter, r *http.Request, site string) {
	id, err := pathID(r)
	if err != nil {
		w.fail(rw, err)
		return
	}
	var in struct {
		Metric string    `json:"metric"`
		Value  float64   `json:"value"`
		Time   time.Time `json:"time"`
		Round  time.Time `json:"round"`
	}
	if err := decode(r, &in); err != nil {
		w.fail(rw, err)
		return
	}
	by, _ := actor(r)
	m, err := w.st.AddManualReading(r.Context(), site, ManualReading{OccupancyID: id, Metric: in.Metric, Value: in.Value,
		Time: in.Time, Round: in.Round, EnteredBy: by})
	if err != nil {
		w.fail(rw, err)
		return
	}
	occ, _ := w.st.Occupancy(r.Context(), site, id, false)
	w.record(r, AuditManualRead, site, occ.CaseID, fmt.Sprintf("%s %v", m.Metric, m.Value), true)
	writeJSON(rw, http.StatusCreated, m)
}

// RoundView is one round of a site.
type RoundView struct {
	Round   time.Time  `json:"round"`
	Label   string     `json:"label"`
	Closes  time.Time  `json:"closes"`
	Rows    []RoundRow `json:"rows"`
	Done    int        `json:"done"`
	Missing int        `json:"missing"`
	Pending int        `json:"pending"`
	Febrile int        `json:"febrile"`
}

// Rounds returns the rounds of the site's local day containing day.
func (w *Ward) Rounds(ctx context.Context, site string, day time.Time) ([]RoundView, error) {
	rooms, occs, err := w.roomsAndActive(ctx, site)
	if err != nil {
		return nil, err
	}
	sc := w.Site(site)
	now := w.clk.Now()
	out := []RoundView{}
	for _, round := range sc.RoundsOn(day) {
		rows, err := w.roundRows(ctx, site, round, now, rooms, occs)
		if err != nil {
			return nil, err
		}
		v := RoundView{Round: round.UTC(), Label: roundLabel(round, sc.Location), Closes: round.Add(sc.Window).UTC(), Rows: rows}
		for _, row := range rows {
			switch row.Result.State {
			case RoundDone:
				v.Done++
			case RoundMissing:
				v.Missing++
			case RoundPending:
				v.Pending++
			}
			if row.Result.Febrile {
				v.Febrile++
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// dayParam reads ?date=YYYY-MM-DD in the site's zone (default today there).
func (w *Ward) dayParam(r *http.Request, site string) (time.Time, error) {
	loc := w.Site(site).Location
	s := r.URL.Query().Get("date")
	if s == "" {
		return midnight(w.clk.Now(), loc), nil
	}
	d, err := time.ParseInLocation("2006-01-02", s, loc)
	if err != nil {
		return time.Time{}, invalid("date %q: want YYYY-MM-DD", s)
	}
	return d, nil
}

func (w *Ward) rounds(rw http.ResponseWriter, r *http.Request, site string) {
	day, err := w.dayParam(r, site)
	if err != nil {
		w.fail(rw, err)
		return
	}
	views, err := w.Rounds(r.Context(), site, day)
	if err != nil {
		w.fail(rw, err)
		return
	}
	writeJSON(rw, http.StatusOK, map[string]any{"site": site, "date": day.Format("2006-01-02"), "rounds": views})
}
