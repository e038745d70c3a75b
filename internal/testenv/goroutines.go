package testenv

import (
	"runtime"
	"testing"
	"time"
)

// GoroutinesBackTo waits until the process runs at most baseline goroutines (what the test counted before it
// started what it has now stopped) and fails t with every goroutine's stack when within passes first: a
// leak check for a Close that must wait for its goroutines. It polls in the calling goroutine, so t may be
// failed from it.
func GoroutinesBackTo(t testing.TB, baseline int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d now:\n%s", baseline, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
