package dashboards

import (
	"github.com/prometheus/prometheus/promql/parser"

	"citywatch/alerts"
)

// Threshold is a limit an alerting rule compares a metric's plain value against (`metric{matchers} op value`),
// so the UI can colour readings by the rules that watch them and draw the limit on charts. Rules over
// functions of a metric (rates, averages) have none: their value is not what a tile shows.
type Threshold struct {
	// Alert and Severity are the rule's name and severity label.
	Alert    string `json:"alert"`
	Severity string `json:"severity,omitempty"`
	// Metric, Op (>, >=, <, <=) and Value: the condition under which the rule's alert is active.
	Metric string  `json:"metric"`
	Op     string  `json:"op"`
	Value  float64 `json:"value"`
	// Matchers restrict the series the rule watches (besides the metric name).
	Matchers []ThresholdMatcher `json:"matchers,omitempty"`
}

// ThresholdMatcher is one label matcher of a threshold's selector.
type ThresholdMatcher struct {
	Name  string `json:"name"`
	Op    string `json:"op"` // =, !=, =~, !~
	Value string `json:"value"`
}

// ruleThresholds are the thresholds of the loaded rules.
func ruleThresholds(rules []alerts.RuleStatus) []Threshold {
	out := []Threshold{}
	for _, rs := range rules {
		for _, th := range exprThresholds(rs.Rule.Expr) {
			th.Alert, th.Severity = rs.Rule.Alert, rs.Rule.Labels["severity"]
			out = append(out, th)
		}
	}
	return out
}

// flipped is a comparison with its operands swapped (20 >= x is x <= 20).
var flipped = map[string]string{">": "<", ">=": "<=", "<": ">", "<=": ">="}

// exprThresholds finds every comparison of a plain selector with a number in expr, through parentheses and
// and/or/unless.
func exprThresholds(expr string) []Threshold {
	if expr == "" {
		return nil
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil
	}
	var out []Threshold
	var walk func(parser.Expr)
	walk = func(e parser.Expr) {
		switch n := e.(type) {
		case *parser.ParenExpr:
			walk(n.Expr)
		case *parser.BinaryExpr:
			if n.Op == parser.LAND || n.Op == parser.LOR || n.Op == parser.LUNLESS {
				walk(n.LHS)
				walk(n.RHS)
				return
			}
			op := n.Op.String()
			if _, ok := flipped[op]; !ok || n.ReturnBool {
				return
			}
			sel, num := unparen(n.LHS), unparen(n.RHS)
			if _, ok := sel.(*parser.NumberLiteral); ok {
				sel, num, op = num, sel, flipped[op]
			}
			vs, ok1 := sel.(*parser.VectorSelector)
			lit, ok2 := num.(*parser.NumberLiteral)
			if !ok1 || !ok2 || vs.Name == "" {
				return
			}
			th := Threshold{Metric: vs.Name, Op: op, Value: lit.Val}
			for _, m := range vs.LabelMatchers {
				if m.Name != "__name__" {
					th.Matchers = append(th.Matchers, ThresholdMatcher{Name: m.Name, Op: m.Type.String(), Value: m.Value})
				}
			}
			out = append(out, th)
		}
	}
	walk(e)
	return out
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}
