package testenv

import "testing"

// TestFreePortNeverRepeats: the ports FreePort hands out in one process are all different. The kernel picks
// ephemeral ports at random, so 2,000 picks of a closed listener's port repeat dozens of times (about
// 2000²/2/28,000 in Linux's default range); a child told the same port for two listeners fails to start.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		a := FreePort(t)
		if seen[a] {
			t.Fatalf("FreePort returned %s twice", a)
		}
		seen[a] = true
	}
}
