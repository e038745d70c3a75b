package main_test

import (
	"sync"
	"testing"

	"citywatch/internal/testenv"
)

// plainBin is a citywatch built without -race, for the tests that measure the process (RSS): the race
// detector's shadow memory would make a memory bound meaningless.
var plainBin = sync.OnceValues(func() (string, error) { return testenv.BuildCitywatch(false) })

// plainBinary returns a citywatch binary built without -race: the one TestMain built when this test binary
// is not race-built, otherwise the plain build (shared with e2e/browser, linked only when stale).
func plainBinary(t *testing.T) string {
	t.Helper()
	bin := needBinary(t)
	if !raceEnabled {
		return bin
	}
	bin, err := plainBin()
	if err != nil {
		t.Fatalf("build citywatch without -race: %v", err)
	}
	return bin
}
