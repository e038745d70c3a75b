package auth

import (
	"context"
	"net/http"
	"slices"

	"citywatch/internal/jsonhttp"
)

// Role is a user's or token's role.
type Role string

// The roles, from most to least powerful.
const (
	// RoleAdmin may do everything, on every site.
	RoleAdmin Role = "admin"
	// RoleOperator reads everything, watches video, acknowledges alerts and creates silences, on every site
	// unless the principal is restricted to some.
	RoleOperator Role = "operator"
	// RoleHealthStaff sees cameras, clips, alerts and devices of their own sites and may acknowledge those
	// alerts; they never see other sites (other sites' items answer 404, lists are filtered).
	RoleHealthStaff Role = "health_staff"
	// RoleViewer is read-only on their sites (["*"]: every site), without video unless granted the video
	// permission.
	RoleViewer Role = "viewer"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleOperator, RoleHealthStaff, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Action is something a principal may be allowed to do.
type Action string

// The actions the permission model knows.
const (
	// ActionSelf is what every authenticated principal may do: read who they are, log out, manage their own
	// API tokens.
	ActionSelf Action = "self"
	// ActionRead reads sensor data, cameras' state, alerts, devices, silences, rules and the query API.
	ActionRead Action = "read"
	// ActionVideo watches live view, snapshots and clips.
	ActionVideo Action = "video"
	// ActionAck acknowledges an alert.
	ActionAck Action = "ack"
	// ActionSilence creates and expires silences.
	ActionSilence Action = "silence"
	// ActionReplay replays notification deliveries.
	ActionReplay Action = "replay"
	// ActionManageRules changes alert rules.
	ActionManageRules Action = "manage_rules"
	// ActionManageUsers creates, changes and deletes users and manages every API token.
	ActionManageUsers Action = "manage_users"
	// ActionReadAudit reads the audit trail.
	ActionReadAudit Action = "read_audit"
	// ActionReadMetrics reads the self metrics at /metrics.
	ActionReadMetrics Action = "read_metrics"
	// ActionWard runs a quarantine ward on the principal's sites: rooms, bindings, check-in and check-out, manual
	// readings; it also shows occupants' personal fields (package ward).
	ActionWard Action = "ward"
	// ActionVideoUnmasked watches the live view of a camera that has a privacy mask (raw video). Snapshots and
	// clips are masked for everyone; only admins hold it.
	ActionVideoUnmasked Action = "video_unmasked"
)

// Actions lists every action.
var Actions = []Action{
	ActionSelf, ActionRead, ActionVideo, ActionAck, ActionSilence, ActionReplay, ActionManageRules,
	ActionManageUsers, ActionReadAudit, ActionReadMetrics, ActionWard, ActionVideoUnmasked,
}

// grants is the permission model. Video for viewers depends on Principal.Video and is decided in Can.
var grants = map[Role][]Action{
	RoleAdmin:       Actions,
	RoleOperator:    {ActionSelf, ActionRead, ActionVideo, ActionAck, ActionSilence, ActionReplay, ActionReadMetrics},
	RoleHealthStaff: {ActionSelf, ActionRead, ActionVideo, ActionAck, ActionWard},
	RoleViewer:      {ActionSelf, ActionRead},
}

// Kind says how a principal authenticated.
type Kind string

// The principal kinds.
const (
	KindUser  Kind = "user"
	KindToken Kind = "token"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	Kind Kind
	// ID is the user name for a user, the token id for a token.
	ID string
	// Name is the user name for a user, the token's name for a token.
	Name string
	Role Role
	// Sites restricts the principal to these sites. Empty means every site for admins and operators and no
	// site at all for health staff and viewers (fail closed); ["*"] means every site for operators and
	// viewers. Admins always see every site.
	Sites []string
	// Video grants video to a viewer; the other roles' video access follows from their role.
	Video bool
	// Owner is the user a token acts for ("" for a standalone service token).
	Owner string
}

// Can reports whether the principal may perform action (on the sites it can see).
func (p Principal) Can(a Action) bool {
	if !p.Role.Valid() {
		return false
	}
	if a == ActionVideo && p.Role == RoleViewer {
		return p.Video
	}
	return slices.Contains(grants[p.Role], a)
}

// AllSitesWildcard as a principal's only site gives an operator or a viewer every site, present and future.
const AllSitesWildcard = "*"

// CanSeeSite reports whether the principal may see items of site.
func (p Principal) CanSeeSite(site string) bool {
	switch {
	case !p.Role.Valid():
		return false
	case p.AllSites():
		return true
	}
	return site != "" && slices.Contains(p.Sites, site)
}

// AllSites reports whether the principal sees every site (no need to filter).
func (p Principal) AllSites() bool {
	switch p.Role {
	case RoleAdmin:
		return true
	case RoleOperator:
		return len(p.Sites) == 0 || slices.Equal(p.Sites, []string{AllSitesWildcard})
	case RoleViewer:
		return slices.Equal(p.Sites, []string{AllSitesWildcard})
	}
	return false
}

// Actor is how the principal appears in the audit trail: the user name, or "token/<name>".
func (p Principal) Actor() string {
	if p.Kind == KindToken {
		return "token/" + p.Name
	}
	return p.Name
}

// FilterSites returns the items of items whose site the principal can see, in order. List handlers use it;
// handlers of a single item by id answer 404 (not 403) when !p.CanSeeSite(site), exactly as for a missing id,
// so health staff cannot probe which ids exist at other sites.
func FilterSites[T any](p Principal, items []T, site func(T) string) []T {
	if p.AllSites() {
		return items
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		if p.CanSeeSite(site(it)) {
			out = append(out, it)
		}
	}
	return out
}

type ctxKey struct{}

// NewContext returns ctx carrying p (Middleware does this; tests of handlers may too).
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the request's principal, if authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// SiteHandler serves h for the site named by the request's {site} path value. A principal that cannot see
// that site gets the 404 a missing item gets (see FilterSites), so no one learns what exists at other sites;
// authentication itself is the middleware's.
func SiteHandler(h func(w http.ResponseWriter, r *http.Request, site string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site := r.PathValue("site")
		if p, ok := FromContext(r.Context()); ok && !p.CanSeeSite(site) {
			jsonhttp.Write(w, http.StatusNotFound, map[string]any{"error": "not found", "detail": nil})
			return
		}
		h(w, r, site)
	})
}

// SiteVisible reports whether the request's principal may see items of site. Handlers of one item by id answer
// a false result with the same 404 they give a missing id.
func SiteVisible(r *http.Request, site string) bool {
	p, ok := FromContext(r.Context())
	return ok && p.CanSeeSite(site)
}
