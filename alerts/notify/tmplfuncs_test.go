package notify

import (
	"reflect"
	"testing"

	"citywatch/internal/tmplfuncs"
)

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
