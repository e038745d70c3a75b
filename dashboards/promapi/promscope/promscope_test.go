package promscope

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

var siteA = Sites{Names: []string{"a"}}

// enforceCases are expressions with what a user of site "a" must send instead.
var enforceCases = []struct {
	name, in, want string
}{
	{"metric", `temperature`, `temperature{site!="",site=~"a"}`},
	{"all metrics", `{__name__=~".+"}`, `{__name__=~".+",site!="",site=~"a"}`},
	{"own site matcher kept and ANDed", `temperature{site="b"}`, `temperature{site!="",site="b",site=~"a"}`},
	{"negated site matcher", `temperature{site!="a"}`, `temperature{site!="",site!="a",site=~"a"}`},
	{"range", `rate(temperature[5m])`, `rate(temperature{site!="",site=~"a"}[5m])`},
	{"subquery", `max_over_time(temperature[1h:1m])`, `max_over_time(temperature{site!="",site=~"a"}[1h:1m])`},
	{"nested subquery", `max_over_time(rate(x[5m])[1h:])`, `max_over_time(rate(x{site!="",site=~"a"}[5m])[1h:])`},
	{"at modifier", `temperature @ 1700000000`, `temperature{site!="",site=~"a"} @ 1700000000.000`},
	{"at start", `temperature @ start()`, `temperature{site!="",site=~"a"} @ start()`},
	{"offset", `temperature offset 5m`, `temperature{site!="",site=~"a"} offset 5m`},
	{"binary or", `temperature or nosite`, `temperature{site!="",site=~"a"} or nosite{site!="",site=~"a"}`},
	{"aggregation", `sum by (site) (temperature)`, `sum by (site) (temperature{site!="",site=~"a"})`},
	{"number", `1 + 1`, `1 + 1`},
	{"utf8 name", `{"my.metric"}`, `{__name__="my.metric",site!="",site=~"a"}`},
	{"label_replace cannot forge a site", `label_replace(x, "site", "a", "", "")`, `label_replace(x{site!="",site=~"a"}, "site", "a", "", "")`},
}

func TestEnforce(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for _, c := range enforceCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Query(p, c.in, siteA)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Query(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestSitesMatchers(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for _, c := range []struct {
		name  string
		sites Sites
		want  string
	}{
		{"regexp metacharacters quoted", Sites{Names: []string{"a.b", "c|d", `e"f`}}, `x{site!="",site=~"a\\.b|c\\|d|e\"f"}`},
		{"no sites match nothing", Sites{}, `x{site!="",site=~""}`},
		{"all", Sites{All: true}, `x`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Query(p, "x", c.sites)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestSelectors(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	got, err := Selectors(p, []string{`temperature{__name__=~".+"}`, `{site="b"}`}, siteA)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{__name__="temperature",__name__=~".+",site!="",site=~"a"}`, `{site!="",site="b",site=~"a"}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
	got, err = Selectors(p, nil, siteA)
	if err != nil || len(got) != 1 || got[0] != `{site!="",site=~"a"}` {
		t.Errorf("no match[]: got %q, %v", got, err)
	}
	if _, err := Selectors(p, []string{`rate(x[5m])`}, siteA); err == nil {
		t.Error("an expression is not a selector")
	}
	all, err := Selectors(p, []string{`x`}, Sites{All: true})
	if err != nil || len(all) != 1 || all[0] != "x" {
		t.Errorf("all: %q, %v", all, err)
	}
}

// FuzzEnforce checks the rewriter's contract for any expression that parses and any site name: the output
// parses, every selector in it carries the site matchers, and rewriting it again adds nothing new that is
// missing.
func FuzzEnforce(f *testing.F) {
	for _, c := range enforceCases {
		f.Add(c.in, "a")
	}
	f.Add(`sum(rate({__name__=~"x.*",site=~".+"}[5m] @ end() offset -1m))`, `b|.*`)
	f.Add(`x[1h:5m] @ 10`, `"\`)
	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, query, site string) {
		s := Sites{Names: []string{site, "fixed"}}
		if _, err := p.ParseExpr(query); err != nil {
			return
		}
		out, err := Query(p, query, s)
		if err != nil {
			t.Fatalf("Query(%q): %v", query, err)
		}
		expr, err := p.ParseExpr(out)
		if err != nil {
			t.Fatalf("rewritten %q does not parse: %v (from %q)", out, err, query)
		}
		if err := Check(expr, s); err != nil {
			t.Fatalf("rewritten %q: %v (from %q)", out, err, query)
		}
		if again := expr.String(); again != out {
			t.Fatalf("printing is not stable: %q parses back as %q (from %q)", out, again, query)
		}
		for _, sel := range []string{query} {
			if _, err := p.ParseMetricSelector(sel); err != nil {
				continue
			}
			outs, err := Selectors(p, []string{sel}, s)
			if err != nil {
				t.Fatalf("Selectors(%q): %v", sel, err)
			}
			ms, err := p.ParseMetricSelector(outs[0])
			if err != nil {
				t.Fatalf("rewritten selector %q does not parse: %v", outs[0], err)
			}
			if err := Check(&parser.VectorSelector{LabelMatchers: ms}, s); err != nil {
				t.Fatalf("rewritten selector %q: %v", outs[0], err)
			}
		}
	})
}
