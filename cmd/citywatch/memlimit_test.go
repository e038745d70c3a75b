package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// startupGCCases: GOGC is off while the stores open only when a memory limit bounds the heap, and the
// configured GOGC is back afterwards either way.
var startupGCCases = []struct {
	name        string
	memoryLimit int64
	gogc        int
	wantDuring  int
}{
	{name: "memory limit: collector paced by the limit alone", memoryLimit: 1 << 40, gogc: 100, wantDuring: -1},
	{name: "memory limit and a configured GOGC", memoryLimit: 1 << 40, gogc: 50, wantDuring: -1},
	{name: "no memory limit: GOGC kept", memoryLimit: math.MaxInt64, gogc: 100, wantDuring: 100},
}

func TestStartupGC(t *testing.T) {
	limit, gogc := debug.SetMemoryLimit(-1), gcPercent()
	t.Cleanup(func() { debug.SetMemoryLimit(limit); debug.SetGCPercent(gogc) })
	for _, tc := range startupGCCases {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(tc.memoryLimit)
			debug.SetGCPercent(tc.gogc)
			restore := startupGC()
			require.Equal(t, tc.wantDuring, gcPercent())
			restore()
			require.Equal(t, tc.gogc, gcPercent())
			require.Equal(t, tc.memoryLimit, debug.SetMemoryLimit(-1), "the memory limit is never changed")
		})
	}
}

// gcPercent reads the current GOGC.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
