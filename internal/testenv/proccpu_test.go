package testenv

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProcessCPU: the CPU time read from /proc grows as the process works, and a process that does not exist
// is an error.
func TestProcessCPU(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	require.NoError(t, err)
	require.GreaterOrEqual(t, before, time.Duration(0))
	x := 0
	for {
		for i := range 1 << 20 {
			x += i
		}
		now, err := ProcessCPU(os.Getpid())
		require.NoError(t, err)
		if now > before {
			break
		}
	}
	_ = x
	_, err = ProcessCPU(-1)
	require.Error(t, err)
}
