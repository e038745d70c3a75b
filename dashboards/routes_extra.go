package dashboards

import (
	"net/http"

	"citywatch/dashboards/auth"
)

// Route is a route served by a component outside this package (the quarantine ward), registered behind the same
// access control as the server's own: Rule.Action is required, AllSites is enforced, and Rule is listed in
// Rules for the access matrix. Site scoping of the items it serves is the handler's part.
type Route struct {
	Rule    auth.RouteRule
	Handler http.Handler
}
