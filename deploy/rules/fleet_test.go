package rules_test

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"citywatch/alerts"
	"citywatch/deploy/rules"
)

// fleetLabel is the label whose values are one per device: a regular expression on it is answered by matching
// every device's value (the TSDB head has no index of value prefixes), about 166,000 strings and a 2.6 MB
// scratch slice per selector at a million series.
const fleetLabel = "device"

// minFleetInterval is the least evaluation interval of a default-pack rule that selects devices by a regular
// expression on fleetLabel (docs/operations.md, "Rules over the whole fleet").
const minFleetInterval = 10 * time.Second

// TestDefaultPackFleetRegexNotEverySecond: no default-pack rule scans every device's label value at the 1 s
// evaluation interval. At a million series WearableSilent's six such selectors, evaluated every second, took
// 14–17 % of serve's CPU.
func TestDefaultPackFleetRegexNotEverySecond(t *testing.T) {
	rs, err := alerts.ParseRuleFile(rules.DefaultName, []byte(rules.Default))
	if err != nil {
		t.Fatal(err)
	}
	fleet := 0
	for _, r := range rs {
		if r.Expr == "" {
			continue
		}
		n := fleetRegexSelectors(t, r.Expr)
		if n == 0 {
			continue
		}
		fleet++
		if r.Interval < minFleetInterval {
			t.Errorf("%s (group %s) has %d selectors with a regular expression on %q, evaluated every %s: want a group interval ≥ %s",
				r.Alert, r.Group, n, fleetLabel, max(r.Interval, time.Second), minFleetInterval)
		}
	}
	if fleet == 0 {
		t.Fatal("no default rule selects devices by a regular expression: the test checks nothing")
	}
}

// fleetRegexSelectors counts the selectors of expr with a regular-expression matcher on fleetLabel.
func fleetRegexSelectors(t *testing.T, expr string) int {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	n := 0
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == fleetLabel && (m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp) && len(m.SetMatches()) == 0 {
				n++
			}
		}
		return nil
	})
	return n
}
