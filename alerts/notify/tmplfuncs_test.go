package notify

import (
	"reflect"
	"testing"

	"citywatch/internal/tmplfuncs"
)

// TestTemplateSamplesMatchPayload keeps configuration validation honest: config executes templates with
// tmplfuncs.Samples (it must not import notify), so those must be the very payloads the outbox executes with.
// The conversion below does not compile when Payload gains a field tmplfuncs.Payload lacks.
func TestTemplateSamplesMatchPayload(t *testing.T) {
	want := tmplfuncs.Samples("tpl")
	if len(want) != len(sampleChanges) {
		t.Fatalf("tmplfuncs has %d samples, notify %d", len(want), len(sampleChanges))
	}
	for i, c := range sampleChanges {
		got := tmplfuncs.Payload(buildPayload(tmplfuncs.SampleID, "tpl", tmplfuncs.SampleExternalURL, c)) // as ExecuteSamples
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("sample %d:\nnotify    %+v\ntmplfuncs %+v", i, got, want[i])
		}
	}
}
