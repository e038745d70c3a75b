package rules_test

import (
	"testing"

	"citywatch/alerts"
	"citywatch/deploy/rules"
)

// TestPacksLoad: both embedded rule packs parse and validate (PromQL, templates, event rules) and name the same
// alerts, so the demo shows what production runs.
func TestPacksLoad(t *testing.T) {
	def, err := alerts.ParseRuleFile(rules.DefaultName, []byte(rules.Default))
	if err != nil {
		t.Fatal(err)
	}
	demo, err := alerts.ParseRuleFile(rules.DemoName, []byte(rules.Demo))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range def {
		names[r.Alert] = true
	}
	for _, r := range demo {
		if !names[r.Alert] {
			t.Errorf("demo rule %s is not in the default pack", r.Alert)
		}
	}
	if len(demo) < 5 {
		t.Errorf("demo pack has %d rules", len(demo))
	}
}
