package main

import (
	"os"
	"runtime/debug"

	"citywatch/store/tsdb"
)

// memoryLimitFraction is the share of the process's memory bound given to the Go runtime as its soft memory
// limit when GOMEMLIMIT is not set (docs/operations.md, "Memory and garbage collection").
const memoryLimitFraction = 0.9

// setMemoryLimit sets the runtime's soft memory limit to 90% of the cgroup limit or the machine's memory when
// GOMEMLIMIT is not set, so that near the bound the garbage collector works harder instead of the process being
// OOM-killed. GOGC stays at Go's default of 100: at the ingest rates measured, 200 saved no CPU, and a lower
// heap keeps the memory per series down. Either environment variable overrides this.
func setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if mem, ok := tsdb.MemoryBound(); ok {
		debug.SetMemoryLimit(int64(float64(mem) * memoryLimitFraction))
	}
}
