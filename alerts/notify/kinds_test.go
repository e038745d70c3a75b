package notify

import (
	"slices"
	"testing"

	"citywatch/config"
)

// TestKindsAreTheConfiguredFormats: every format configuration validation accepts has an integration, and
// every integration a format validation accepts; otherwise a receiver loads and then fails to start, or an
// integration is unreachable.
func TestKindsAreTheConfiguredFormats(t *testing.T) {
	var got []string
	for f := range kinds {
		got = append(got, f)
	}
	want := slices.Clone(config.NotifyFormats)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("notify implements %v; config accepts %v", got, want)
	}
}
