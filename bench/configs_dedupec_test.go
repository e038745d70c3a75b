package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"citywatch/config"
)

// TestAppConfigsLoad loads every bench configuration built from appConfigHead as startAppWith fills it, so
// that a broken shared head fails here and not in the middle of a bench run.
func TestAppConfigsLoad(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"centre", centreConfig}, {"query budget", qbConfig}, {"ward", wardConfig}, {"alerts", alertConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("groups: []\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "citywatch.yaml")
			body := fmt.Sprintf(c.body, filepath.Join(dir, "data"), "127.0.0.1:1", "127.0.0.1:2", "http://127.0.0.1:3")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := config.Load(path); err != nil {
				t.Fatalf("%s:\n%s", err, body)
			}
		})
	}
}
