package notify

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: Close must wait for every worker.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
