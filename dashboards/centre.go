package dashboards

import (
	"net/http"
	"slices"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/promapi/promscope"
)

// RequestSites is whose series a request to a centre's Prometheus API may read (promapi.NewRemote), the
// centre's counterpart of ScopeToSites: every series for a principal who sees every site, exactly their
// sites' otherwise, and nothing without a valid principal (fail closed). On a centre nothing below the API
// can filter what the remote engine reads, so the API rewrites each query with these sites instead.
func RequestSites(r *http.Request) promscope.Sites {
	p, ok := auth.FromContext(r.Context())
	switch {
	case !ok || !p.Role.Valid():
		return promscope.Sites{}
	case p.AllSites():
		return promscope.Sites{All: true}
	}
	return promscope.Sites{Names: slices.DeleteFunc(slices.Clone(p.Sites), func(s string) bool { return s == auth.AllSitesWildcard })}
}
