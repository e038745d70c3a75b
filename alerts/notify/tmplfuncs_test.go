package notify

import (
	"reflect"
	"testing"
	"time"

	"citywatch/internal/tmplfuncs"
)

// sampleChanges are the alert changes tmplfuncs.Samples stand for (firing with a value, resolved without):
// ExecuteSamples runs a template with those payloads at load, so a template that fails at execution (a missing
// field, a bad call) is a config error, not a delivery failure at 3 a.m.
var sampleChanges = []storedChange{
	{Fingerprint: "0123456789abcdef", Name: "HighTemperature", State: "firing", Value: floatPtr(41.2),
		Labels:      map[string]string{"alertname": "HighTemperature", "site": "siteA", "camera": "cam1"},
		Annotations: map[string]string{"summary": "hot", "last_values": `[1,2]`},
		StartsAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), GeneratorURL: "https://citywatch.example/alerts/1"},
	{Fingerprint: "0123456789abcdef", Name: "HighTemperature", State: "resolved", Value: nil,
		StartsAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), EndsAt: time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC),
		OutageDuration: time.Hour, AckedBy: "operator"},
}

// TestTemplateSamplesMatchPayload keeps configuration validation honest: config executes templates with
// tmplfuncs.Samples (it must not import notify), so those must be the very payloads the outbox executes with.
// (Payload is tmplfuncs.Payload: one type, so the fields cannot drift; the values built must match too.)
func TestTemplateSamplesMatchPayload(t *testing.T) {
	want := tmplfuncs.Samples("tpl")
	if len(want) != len(sampleChanges) {
		t.Fatalf("tmplfuncs has %d samples, notify %d", len(want), len(sampleChanges))
	}
	for i, c := range sampleChanges {
		got := buildPayload(tmplfuncs.SampleID, "tpl", tmplfuncs.SampleExternalURL, c) // as ExecuteSamples
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("sample %d:\nnotify    %+v\ntmplfuncs %+v", i, got, want[i])
		}
	}
}
