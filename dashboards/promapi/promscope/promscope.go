// Package promscope confines PromQL expressions and series selectors to a set of sites by rewriting their
// parsed form, as prom-label-proxy does in front of Prometheus: every selector of the expression — vector
// selectors, the selector inside a range ([5m]), those inside subqueries, with or without @ and offset — gets
// the matchers site=~"<the sites>" and site!="". A centre citywatch uses it before it sends a site-limited
// user's query to a remote engine (VictoriaMetrics, Mimir, Thanos, Prometheus), where no storage wrapper of
// ours can filter what the engine reads.
//
// Why the parsed form and not the string: a query string has comments, escapes, nested quotes, UTF-8 names
// ({"metric"}) and functions whose arguments look like selectors; only the parser knows which parts are
// selectors. The rewritten tree is printed with its own String method, which the engine parses back.
//
// A user's own site matcher is kept and ANDed with ours (several matchers on one label all apply), so
// site="b" from a site-a user selects nothing rather than site b. A principal with no sites matches
// nothing: site=~"" and site!="" exclude each other.
package promscope

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// SiteLabel is the label that names a series' site.
const SiteLabel = "site"

// Sites is whose series a query may read: every series (All), or exactly those whose site label is one of
// Names. The zero value reads nothing.
type Sites struct {
	All   bool
	Names []string
}

// Matchers are the matchers that confine a selector to s: site=~"a|b" (each site regexp-quoted) and
// site!="". For All they are nil.
func (s Sites) Matchers() []*labels.Matcher {
	if s.All {
		return nil
	}
	quoted := make([]string, 0, len(s.Names))
	for _, n := range s.Names {
		if utf8.ValidString(n) { // no series has an invalid site name; leave it out rather than fail open
			quoted = append(quoted, regexp.QuoteMeta(n))
		}
	}
	return []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchRegexp, SiteLabel, strings.Join(quoted, "|")),
		labels.MustNewMatcher(labels.MatchNotEqual, SiteLabel, ""),
	}
}

// Enforce adds s's matchers to every selector of expr, in place, and returns expr. For All it changes
// nothing.
func Enforce(expr parser.Expr, s Sites) parser.Expr {
	ms := s.Matchers()
	if ms == nil {
		return expr
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		// MatrixSelector and SubqueryExpr hold their selectors as children, which Inspect visits too.
		if vs, ok := node.(*parser.VectorSelector); ok {
			vs.LabelMatchers = withMatchers(vs.LabelMatchers, ms)
		}
		return nil
	})
	return expr
}

// withMatchers returns own followed by ms, in a new slice (the parser may share own).
func withMatchers(own, ms []*labels.Matcher) []*labels.Matcher {
	out := make([]*labels.Matcher, 0, len(own)+len(ms))
	out = append(out, own...)
	return append(out, ms...)
}

// Query parses query with p, confines it to s and prints it back. For All it returns query unchanged (after
// checking that it parses), so an admin's query reaches the engine exactly as written.
func Query(p parser.Parser, query string, s Sites) (string, error) {
	expr, err := p.ParseExpr(query)
	if err != nil {
		return "", err
	}
	if s.All {
		return query, nil
	}
	return Enforce(expr, s).String(), nil
}

// Selectors confines each match[] selector to s and prints them back. With no selectors and a limited s it
// returns one selector of s's matchers alone, so /labels and /label/{name}/values without match[] list only
// s's series' labels.
func Selectors(p parser.Parser, selectors []string, s Sites) ([]string, error) {
	if s.All {
		for _, sel := range selectors {
			if _, err := p.ParseMetricSelector(sel); err != nil {
				return nil, err
			}
		}
		return selectors, nil
	}
	if len(selectors) == 0 {
		return []string{(&parser.VectorSelector{LabelMatchers: s.Matchers()}).String()}, nil
	}
	out := make([]string, len(selectors))
	for i, sel := range selectors {
		ms, err := p.ParseMetricSelector(sel)
		if err != nil {
			return nil, err
		}
		out[i] = (&parser.VectorSelector{LabelMatchers: withMatchers(ms, s.Matchers())}).String()
	}
	return out, nil
}

// Check reports a selector of expr that lacks s's matchers: the property Enforce establishes, for tests and
// for a last look before a query leaves the process.
func Check(expr parser.Expr, s Sites) error {
	want := s.Matchers()
	var missing error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok || missing != nil {
			return nil
		}
		for _, w := range want {
			if !hasMatcher(vs.LabelMatchers, w) {
				missing = fmt.Errorf("selector %s lacks %s", vs.String(), w.String())
				return nil
			}
		}
		return nil
	})
	return missing
}

func hasMatcher(ms []*labels.Matcher, w *labels.Matcher) bool {
	for _, m := range ms {
		if m.Name == w.Name && m.Type == w.Type && m.Value == w.Value {
			return true
		}
	}
	return false
}
