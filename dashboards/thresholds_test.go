package dashboards

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"

	"citywatch/alerts"
)

var thresholdCases = []struct {
	name, expr string
	want       []Threshold
}{
	{"plain", `body_temperature > 38.0`, []Threshold{{Metric: "body_temperature", Op: ">", Value: 38}}},
	{"matchers", `co2{device=~"room-.*"} > 1200`, []Threshold{{Metric: "co2", Op: ">", Value: 1200,
		Matchers: []ThresholdMatcher{{Name: "device", Op: "=~", Value: "room-.*"}}}}},
	{"number on the left", `20 >= battery`, []Threshold{{Metric: "battery", Op: "<=", Value: 20}}},
	{"parenthesised and or", `(humidity < 20) or (humidity > 80)`, []Threshold{{Metric: "humidity", Op: "<", Value: 20}, {Metric: "humidity", Op: ">", Value: 80}}},
	{"not a plain value", `deriv(water_level[10m]) * 3600 > 0.5`, nil},
	{"bool comparison", `temperature > bool 30`, nil},
	{"two series", `a > b`, nil},
	{"not promql", `this is ( not`, nil},
	{"empty", ``, nil},
}

// TestRuleThresholds: the limits a rule compares a metric against are read from its PromQL expression.
func TestRuleThresholds(t *testing.T) {
	for _, c := range thresholdCases {
		t.Run(c.name, func(t *testing.T) {
			got := exprThresholds(c.expr)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("exprThresholds(%q) = %+v, want %+v", c.expr, got, c.want)
			}
		})
	}
}

// FuzzRuleThresholds: no expression panics the reader.
func FuzzRuleThresholds(f *testing.F) {
	for _, c := range thresholdCases {
		f.Add(c.expr)
	}
	f.Fuzz(func(t *testing.T, expr string) { _ = exprThresholds(expr) })
}

type thresholdAlerts struct{ fakeAlerts }

func (thresholdAlerts) Rules() []alerts.RuleStatus {
	return []alerts.RuleStatus{
		{Rule: alerts.Rule{Alert: "Fever", Expr: "body_temperature > 38", Labels: map[string]string{"severity": "critical"}}},
		{Rule: alerts.Rule{Alert: "CameraOffline", Event: &alerts.EventSpec{}}},
	}
}

// TestRulesAPIThresholds: GET /api/rules lists the thresholds of the loaded rules, with rule and severity, for
// the UI to colour values and draw limits.
func TestRulesAPIThresholds(t *testing.T) {
	s, err := New(Config{}, Deps{Alerts: thresholdAlerts{}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/rules", nil))
	var body struct{ Thresholds []Threshold }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
		t.Fatalf("%d %v: %s", rec.Code, err, rec.Body)
	}
	want := []Threshold{{Alert: "Fever", Severity: "critical", Metric: "body_temperature", Op: ">", Value: 38}}
	if !reflect.DeepEqual(body.Thresholds, want) {
		t.Errorf("thresholds %+v, want %+v", body.Thresholds, want)
	}
}
