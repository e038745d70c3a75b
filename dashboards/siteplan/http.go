package siteplan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/internal/jsonhttp"
)

// Route is one HTTP route with its access rule; the server registers it behind access control.
type Route struct {
	Rule    auth.RouteRule
	Handler http.Handler
}

// maxMarkerBody bounds a marker request ({"x":0.25,"y":0.5}).
const maxMarkerBody = 4 << 10

// idRE is what a device or camera id on a plan may be: a camera id, or a device id as the registry makes it
// from the topic ("district/site/device").
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,255}$`)

// Routes returns the plans' and the map's HTTP API. Reading needs read; changing a plan needs the ward action
// (admins, and health staff on their own sites), the staff who run the site's floors. A site the principal
// cannot see answers 404, as a missing one.
func (p *Plans) Routes() []Route {
	rule := func(method, pattern string, a auth.Action, scoped bool, body string, ok int) auth.RouteRule {
		return auth.RouteRule{Method: method, Pattern: pattern, Action: a, SiteScoped: scoped, Body: body, OK: ok}
	}
	read, edit := auth.ActionRead, auth.ActionWard
	return []Route{
		{rule("GET", "/api/map", read, false, "", 0), http.HandlerFunc(p.mapConfig)},
		{rule("GET", "/api/plans/{site}", read, true, "", 0), p.site(p.plan)},
		{rule("GET", "/api/plans/{site}/image", read, true, "", 0), p.site(p.image)},
		// The matrix sends JSON, which is no image: an allowed request gets 415.
		{rule("PUT", "/api/plans/{site}/image", edit, true, `{}`, http.StatusUnsupportedMediaType), p.site(p.upload)},
		{rule("PUT", "/api/plans/{site}/markers/{kind}/{id}", edit, true, `{"x":0.5,"y":0.5}`, 0), p.site(p.place)},
		{rule("DELETE", "/api/plans/{site}/markers/{kind}/{id}", edit, true, "", http.StatusNoContent), p.site(p.remove)},
	}
}

// site wraps a handler of one site's plan: the site must be visible to the principal (auth.SiteHandler).
func (p *Plans) site(h func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return auth.SiteHandler(h)
}

// mapConfig answers the city map: the tile URL and the configured sites the principal sees.
func (p *Plans) mapConfig(w http.ResponseWriter, r *http.Request) {
	sites := []Location{}
	for _, l := range p.cfg.Sites {
		if pr, ok := auth.FromContext(r.Context()); ok && !pr.CanSeeSite(l.Site) {
			continue
		}
		sites = append(sites, l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tile_url": p.cfg.TileURL, "attribution": p.cfg.Attribution, "sites": sites})
}

func (p *Plans) plan(w http.ResponseWriter, r *http.Request, site string) {
	pl, err := p.st.Plan(r.Context(), site)
	if err != nil {
		p.fail(w, err)
		return
	}
	if p.deps.Rooms != nil {
		rooms, err := p.deps.Rooms(r.Context(), site)
		if err != nil {
			p.fail(w, err)
			return
		}
		for _, rm := range rooms {
			if rm.Placed {
				pl.Rooms = append(pl.Rooms, rm)
			} else {
				pl.UnplacedRooms = append(pl.UnplacedRooms, rm)
			}
		}
	}
	if pl.Rooms == nil {
		pl.Rooms = []Room{}
	}
	if pl.UnplacedRooms == nil {
		pl.UnplacedRooms = []Room{}
	}
	writeJSON(w, http.StatusOK, pl)
}

// image serves the plan image as stored, with the type sniffed at upload; nosniff and a sandboxing CSP keep a
// browser from reading it as anything but an image.
func (p *Plans) image(w http.ResponseWriter, r *http.Request, site string) {
	img, data, err := p.st.Image(r.Context(), site)
	if err != nil {
		p.fail(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", img.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-cache")
	h.Set("ETag", `"`+img.Version+`"`)
	if match := r.Header.Get("If-None-Match"); match == `"`+img.Version+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(data)
}

// upload stores a new plan image. The body is the image itself; its type is sniffed, never taken from the
// request's Content-Type.
func (p *Plans) upload(w http.ResponseWriter, r *http.Request, site string) {
	data, err := io.ReadAll(io.LimitReader(r.Body, p.cfg.MaxImageBytes+1))
	if err != nil {
		p.reject(w, r, site, "read", http.StatusBadRequest, fmt.Errorf("%w: read body: %v", ErrImage, err))
		return
	}
	info, err := CheckImage(data, p.cfg.MaxImageBytes, p.cfg.MaxImageSide, p.cfg.MaxImagePixels)
	if err != nil {
		reason, code := rejectReason(data, p.cfg.MaxImageBytes)
		p.reject(w, r, site, reason, code, err)
		return
	}
	img, err := p.st.PutImage(r.Context(), site, info, data, actor(r))
	if err != nil {
		p.fail(w, err)
		return
	}
	p.record(r, audit.SitePlanImage, site, fmt.Sprintf("image %d×%d", info.Width, info.Height), info.ContentType, true)
	writeJSON(w, http.StatusOK, img)
}

// rejectReason classifies a rejected upload for the metric (bounded labels) and the status code.
func rejectReason(data []byte, maxBytes int64) (string, int) {
	switch ct := http.DetectContentType(data); {
	case len(data) == 0:
		return "empty", http.StatusBadRequest
	case int64(len(data)) > maxBytes:
		return "size", http.StatusRequestEntityTooLarge
	case ct != "image/png" && ct != "image/jpeg" && ct != "image/webp":
		return "type", http.StatusUnsupportedMediaType
	}
	return "image", http.StatusUnprocessableEntity
}

// reject answers a refused upload with code and the reason in words, counts it and audits it: a hostile upload
// leaves a trace without flooding the log.
func (p *Plans) reject(w http.ResponseWriter, r *http.Request, site, reason string, code int, err error) {
	p.rejected.WithLabelValues(reason).Inc()
	p.record(r, audit.SitePlanImage, site, "image", reason, false)
	writeError(w, code, err.Error(), nil)
}

// placement is a marker request's body.
type placement struct {
	X *float64 `json:"x"`
	Y *float64 `json:"y"`
}

func (p *Plans) marker(w http.ResponseWriter, r *http.Request, site string) (kind, id string, ok bool) {
	kind, id = r.PathValue("kind"), r.PathValue("id")
	if kind != "device" && kind != "camera" && kind != "room" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("kind must be device, camera or room; got %q", clip(kind)), nil)
		return "", "", false
	}
	if !idRE.MatchString(id) {
		writeError(w, http.StatusBadRequest, "invalid id", nil)
		return "", "", false
	}
	return kind, id, true
}

// place puts a device or camera of the site on its plan at x, y (fractions of the plan).
func (p *Plans) place(w http.ResponseWriter, r *http.Request, site string) {
	kind, id, ok := p.marker(w, r, site)
	if !ok {
		return
	}
	var in placement
	dec := json.NewDecoder(io.LimitReader(r.Body, maxMarkerBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "body: want {\"x\": 0..1, \"y\": 0..1}", nil)
		return
	}
	if err := validPosition(in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if kind == "room" {
		p.placeRoom(w, r, site, id, in.X, in.Y)
		return
	}
	if p.deps.Locate != nil {
		// Another site's item is as unknown as a missing one.
		if s, found := p.deps.Locate(kind, id); !found || s != site {
			writeError(w, http.StatusNotFound, kind+" not found at this site", nil)
			return
		}
	}
	m := Marker{Kind: kind, ID: id, X: *in.X, Y: *in.Y}
	if err := p.st.PutMarker(r.Context(), site, m, actor(r)); err != nil {
		p.fail(w, err)
		return
	}
	p.record(r, audit.SitePlanPlace, site, kind+" "+id, fmt.Sprintf("x=%.3f y=%.3f", m.X, m.Y), true)
	writeJSON(w, http.StatusOK, m)
}

// validPosition checks a placement: both coordinates, each within the plan.
func validPosition(in placement) error {
	if in.X == nil || in.Y == nil {
		return errors.New("x and y are required")
	}
	for _, v := range []float64{*in.X, *in.Y} {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return fmt.Errorf("x and y are fractions of the plan, 0 to 1; got %v", v)
		}
	}
	return nil
}

// remove takes a device or camera off the plan (204 whether or not it was on it).
func (p *Plans) remove(w http.ResponseWriter, r *http.Request, site string) {
	kind, id, ok := p.marker(w, r, site)
	if !ok {
		return
	}
	if kind == "room" {
		p.placeRoom(w, r, site, id, nil, nil)
		return
	}
	had, err := p.st.DeleteMarker(r.Context(), site, kind, id)
	if err != nil {
		p.fail(w, err)
		return
	}
	if had {
		p.record(r, audit.SitePlanRemove, site, kind+" "+id, "", true)
	}
	w.WriteHeader(http.StatusNoContent)
}

// placeRoom places the ward room id of site at x, y, or takes it off the plan (nil): the ward keeps the
// position; the plan audits it as it does devices and cameras (target "room <name>").
func (p *Plans) placeRoom(w http.ResponseWriter, r *http.Request, site, id string, x, y *float64) {
	if p.deps.PlaceRoom == nil {
		writeError(w, http.StatusNotFound, "room not found at this site", nil)
		return
	}
	name, found, err := p.deps.PlaceRoom(r.Context(), site, id, x, y)
	if err != nil {
		p.log.Error("placing a room failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error", nil)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "room not found at this site", nil)
		return
	}
	if x == nil {
		p.record(r, audit.SitePlanRemove, site, "room "+name, "", true)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p.record(r, audit.SitePlanPlace, site, "room "+name, fmt.Sprintf("x=%.3f y=%.3f", *x, *y), true)
	writeJSON(w, http.StatusOK, Marker{Kind: "room", ID: id, X: *x, Y: *y})
}

func (p *Plans) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "no plan image for this site", nil)
		return
	}
	p.log.Error("site plan request failed", "err", err)
	writeError(w, http.StatusInternalServerError, "internal error", nil)
}

func (p *Plans) record(r *http.Request, action, site, target, detail string, ok bool) {
	if p.deps.Audit == nil {
		return
	}
	name, role := "unknown", ""
	if pr, found := auth.FromContext(r.Context()); found {
		name, role = pr.Actor(), string(pr.Role)
	}
	ip := ""
	if p.deps.ClientIP != nil {
		ip = p.deps.ClientIP(r)
	}
	_ = p.deps.Audit.Record(r.Context(), audit.Record{Actor: name, Role: role, Action: action, Site: site,
		Target: target, IP: ip, Detail: detail, Success: ok})
}

func actor(r *http.Request) string {
	if pr, ok := auth.FromContext(r.Context()); ok {
		return pr.Actor()
	}
	return "unknown"
}

func clip(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.ToValidUTF8(s, "?")
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonhttp.Write(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string, detail any) {
	writeJSON(w, code, map[string]any{"error": msg, "detail": detail})
}
