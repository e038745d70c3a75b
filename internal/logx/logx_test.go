package logx

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestComponent: a component's logger carries its component attribute on the caller's handler, and a nil
// logger is the no-op default (it writes nothing and reports no level enabled, so no record is built).
func TestComponent(t *testing.T) {
	var buf bytes.Buffer
	Component(slog.New(slog.NewTextHandler(&buf, nil)), "media").Info("started", "cameras", 2)
	if got := buf.String(); !strings.Contains(got, "component=media") || !strings.Contains(got, "cameras=2") {
		t.Errorf("logged %q, want component=media and cameras=2", got)
	}
	for name, l := range map[string]*slog.Logger{"Component": Component(nil, "media"), "Or": Or(nil)} {
		if l == nil || l.Enabled(t.Context(), slog.LevelError) {
			t.Errorf("%s(nil) = %v, want a logger that discards everything", name, l)
		}
	}
	own := slog.New(slog.NewTextHandler(&buf, nil))
	if Or(own) != own {
		t.Error("Or(l) is not l")
	}
}
