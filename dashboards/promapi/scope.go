package promapi

import (
	"context"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"citywatch/dashboards/auth"
)

// ScopeToSites wraps the storage the Prometheus API reads so that a principal limited to some sites reads
// exactly their sites' series: every Select, LabelNames and LabelValues made on behalf of a request gets a
// site=~"<their sites>" matcher, taken from the principal in the request context. This holds for
// every endpoint and every query form (PromQL, match[] selectors, label endpoints), whatever grammar the caller
// used, because it sits below them all, as prom-label-proxy does in front of Prometheus. Series without a site
// label are not theirs (fail closed). Calls without a principal (rule evaluation inside citywatch) and
// principals that see every site are not restricted.
//
// New applies it to every storage it is given, so an API over an unscoped storage cannot be built; calling it
// on a scoped storage returns it unchanged.
func ScopeToSites(q storage.Queryable) storage.Queryable {
	if s, ok := q.(scopedQueryable); ok {
		return s
	}
	return scopedQueryable{q}
}

type scopedQueryable struct{ storage.Queryable }

func (q scopedQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	in, err := q.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return scopedQuerier{in}, nil
}

type scopedQuerier struct{ storage.Querier }

func (q scopedQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return q.Querier.Select(ctx, sortSeries, hints, scoped(ctx, ms)...)
}

func (q scopedQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.Querier.LabelValues(ctx, name, hints, scoped(ctx, ms)...)
}

func (q scopedQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.Querier.LabelNames(ctx, hints, scoped(ctx, ms)...)
}

// scoped adds the site matchers of the request's principal to ms.
//
// A series without a site label has the value "" for site=~"…", so the regexp alone keeps it out whenever it
// cannot match "". site!="" is added only when it can (a principal with no sites, or with a site named ""):
// the TSDB answers site!="" with the merged postings of every site value, a walk over every series of the
// head in each query (a million at issue 12's scale), where site=~"a|b" reads the postings of a and b alone.
func scoped(ctx context.Context, ms []*labels.Matcher) []*labels.Matcher {
	p, ok := auth.FromContext(ctx)
	if !ok || p.AllSites() {
		return ms
	}
	site := siteMatcher(p.Sites)
	out := make([]*labels.Matcher, 0, len(ms)+2)
	out = append(append(out, ms...), site)
	if site.Matches("") {
		out = append(out, labels.MustNewMatcher(labels.MatchNotEqual, "site", ""))
	}
	return out
}

// siteMatcher matches exactly the given sites; with none (never valid for a site-limited principal, but fail
// closed) it matches only the empty value, which scoped's site!="" matcher then excludes.
func siteMatcher(sites []string) *labels.Matcher {
	quoted := make([]string, 0, len(sites))
	for _, s := range sites {
		if s != auth.AllSitesWildcard {
			quoted = append(quoted, regexp.QuoteMeta(s))
		}
	}
	return labels.MustNewMatcher(labels.MatchRegexp, "site", strings.Join(quoted, "|"))
}
