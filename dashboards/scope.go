package dashboards

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"citywatch/dashboards/auth"
)

// scopeToSites rewrites the PromQL of a request made by a principal limited to some sites, the way
// prom-label-proxy does: every vector selector gets a site=~"<their sites>" matcher, and the series and label
// endpoints get a match[] of the same when they have none. A site-limited user thus reads through the
// Prometheus API exactly the series of their sites, and series without a site label not at all (fail closed).
// A query that does not parse is left alone: the API answers it with Prometheus' own bad_data error.
func scopeToSites(pp parser.Parser, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p.AllSites() {
			next.ServeHTTP(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			WriteError(w, http.StatusBadRequest, "invalid form: "+err.Error(), nil)
			return
		}
		m := siteMatcher(p.Sites)
		// r.Form merges the URL query and the form body; PostForm is kept in step so no reader sees the original.
		for _, key := range []string{"query", "match[]"} {
			for _, vals := range []map[string][]string{r.Form, r.PostForm} {
				for i, q := range vals[key] {
					vals[key][i] = scopeExpr(pp, q, m)
				}
			}
		}
		if len(r.Form["match[]"]) == 0 && strings.HasPrefix(r.URL.Path, "/api/v1/label") {
			sel := (&parser.VectorSelector{LabelMatchers: []*labels.Matcher{m}}).String()
			r.Form["match[]"] = []string{sel}
		}
		next.ServeHTTP(w, r)
	})
}

// siteMatcher matches exactly the given sites (none: a matcher that matches nothing).
func siteMatcher(sites []string) *labels.Matcher {
	quoted := make([]string, 0, len(sites))
	for _, s := range sites {
		if s != auth.AllSitesWildcard {
			quoted = append(quoted, regexp.QuoteMeta(s))
		}
	}
	re := strings.Join(quoted, "|")
	if re == "" {
		re = "$^" // no site at all: nothing matches
	}
	return labels.MustNewMatcher(labels.MatchRegexp, "site", re)
}

// scopeExpr adds m to every vector selector of the PromQL expression q.
func scopeExpr(pp parser.Parser, q string, m *labels.Matcher) string {
	expr, err := pp.ParseExpr(q)
	if err != nil {
		return q
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			vs.LabelMatchers = append(vs.LabelMatchers, m)
		}
		return nil
	})
	return expr.String()
}
