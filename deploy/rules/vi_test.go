package rules_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/template"

	"citywatch/alerts"
	"citywatch/deploy/rules"
)

// TestPacksSpeakVietnamese: every rule of the shipped packs that has a summary has a summary_vi (what
// receivers with language: vi send), and the Fever one reads in Vietnamese with a decimal comma.
func TestPacksSpeakVietnamese(t *testing.T) {
	packs := map[string]string{rules.DefaultName: rules.Default, rules.DemoName: rules.Demo, rules.SelfName: rules.Self,
		rules.WardName: rules.Ward}
	var fever string
	for name, text := range packs {
		rs, err := alerts.ParseRuleFile(name, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Annotations["summary"] != "" && r.Annotations["summary_vi"] == "" {
				t.Errorf("%s: rule %s has a summary but no summary_vi", name, r.Alert)
			}
			if r.Annotations["description"] != "" && r.Annotations["description_vi"] == "" {
				t.Errorf("%s: rule %s has a description but no description_vi", name, r.Alert)
			}
			if r.Alert == "Fever" && name == rules.DefaultName {
				fever = r.Annotations["summary_vi"]
			}
		}
	}
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	data := template.AlertTemplateData(map[string]string{"site": "ward-b", "device": "bed7", "room": "203", "case_id": "C-17"},
		nil, "", promql.Sample{F: 38.9})
	got, err := template.NewTemplateExpander(context.Background(), defs+fever, "fever", data, model.Time(0), nil, nil, nil).Expand()
	if err != nil {
		t.Fatal(err)
	}
	if want := "Sốt ở phòng 203 tại ward-b: ca C-17 đo được 38,9 °C (thiết bị đeo bed7)"; got != want {
		t.Errorf("Fever summary_vi:\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(got, "error") {
		t.Error(got)
	}
}
