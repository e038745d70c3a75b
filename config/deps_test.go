package config

import (
	"os/exec"
	"strings"
	"testing"
)

// leafImports are the only citywatch packages config may depend on: small leaves shared with the components,
// so that config stays the leaf every component can import (issue 13).
var leafImports = map[string]bool{
	"citywatch/cameras/zone":       true,
	"citywatch/internal/netguard":  true,
	"citywatch/internal/tmplfuncs": true,
}

// heavyImports must never be pulled in by configuration parsing.
var heavyImports = []string{"sqlite", "gortsplib", "prometheus", "mochi", "paho", "influx", "net/http"}

// TestConfigIsALeaf fails when config starts depending on a component (it used to pull in 341 packages,
// SQLite and gortsplib among them, through cameras/analyze and alerts/notify).
func TestConfigIsALeaf(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "citywatch/config").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "citywatch/") && pkg != "citywatch/config" && !leafImports[pkg] {
			t.Errorf("config depends on %s; only the leaves %v are allowed", pkg, leafImports)
		}
		for _, h := range heavyImports {
			if strings.Contains(pkg, h) {
				t.Errorf("config depends on %s (%s)", pkg, h)
			}
		}
	}
}
