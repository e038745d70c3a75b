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

// TestSelfPackLoads: the built-in self-monitoring pack parses and holds the rules the ingest pipeline feeds.
func TestSelfPackLoads(t *testing.T) {
	self, err := alerts.ParseRuleFile(rules.SelfName, []byte(rules.Self))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]alerts.EventRuleKind{}
	for _, r := range self {
		if r.Event == nil {
			t.Errorf("%s: the self pack must not depend on PromQL over the TSDB it watches", r.Alert)
			continue
		}
		kinds[r.Alert] = r.Event.Kind
	}
	want := map[string]alerts.EventRuleKind{"IngestStalled": alerts.EventIngestStalled, "IngestSeriesLimit": alerts.EventIngestRejected}
	if len(kinds) != len(want) {
		t.Errorf("self pack rules %v, want %v", kinds, want)
	}
	for name, k := range want {
		if kinds[name] != k {
			t.Errorf("%s: kind %q, want %q", name, kinds[name], k)
		}
	}
}
