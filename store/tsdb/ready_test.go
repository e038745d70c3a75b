package tsdb

import (
	"errors"
	"os"
	"testing"
)

// TestReady: an open DB in a writable directory is ready and leaves no probe file behind; a closed DB is not.
func TestReady(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(Config{Dir: dir}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	if err := d.Ready(); err != nil {
		t.Fatalf("open DB: %v", err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Errorf("the probe left files: %d entries before, %d after", len(before), len(after))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ready(); !errors.Is(err, ErrClosed) {
		t.Errorf("closed DB: %v, want ErrClosed", err)
	}
}
