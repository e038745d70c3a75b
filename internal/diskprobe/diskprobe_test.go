package diskprobe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWrite: a writable directory passes and keeps no probe file; a missing directory or a file in place of
// the directory fails with the directory's name.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("probe left %d files behind", len(ents))
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), file} {
		err := Write(bad)
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Write(%s) = %v, want an error naming the directory", bad, err)
		}
	}
}
