package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// plainBin is a citywatch built without -race, for the tests that measure the process (RSS): the race
// detector's shadow memory would make a memory bound meaningless.
var plainBin struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// plainBinary returns a citywatch binary built without -race: the one TestMain built when this test binary
// is not race-built, otherwise one more build, made once for the package next to it.
func plainBinary(t *testing.T) string {
	t.Helper()
	bin := needBinary(t)
	if !raceEnabled {
		return bin
	}
	plainBin.once.Do(func() {
		plainBin.path = filepath.Join(filepath.Dir(bin), "citywatch-norace")
		plainBin.out, plainBin.err = exec.Command("go", "build", "-o", plainBin.path, ".").CombinedOutput()
	})
	if plainBin.err != nil {
		t.Fatalf("build citywatch without -race: %v\n%s", plainBin.err, plainBin.out)
	}
	if _, err := os.Stat(plainBin.path); err != nil {
		t.Fatal(err)
	}
	return plainBin.path
}
