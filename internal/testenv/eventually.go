package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond every poll until it returns "" and fails t when within has passed first; the failure
// carries cond's last message, which should say what was seen.
func Eventually(t testing.TB, within, poll time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not met within %v: %s", within, msg)
		}
		time.Sleep(poll)
	}
}
