package main

import (
	"math"
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

// startupGC turns the garbage collector's proportional pacing (GOGC) off while serve opens its stores, and
// returns the function that restores the previous setting. Opening replays the TSDB's write-ahead log: the
// heap grows from nothing to the whole head (about 1 KiB per series), and at GOGC=100 every doubling on the way
// marks the live heap again, about twice the final heap in all (2.0 s of the 10.5 s of CPU of a cold start at
// a million series, docs/benchmarks.md). With GOGC off the collector still runs when the heap nears the soft
// memory limit, so memory stays under the same bound as in steady state. Without a memory limit (GOMEMLIMIT=off
// or no bound known) it changes nothing: the heap would have no bound at all.
func startupGC() (restore func()) {
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		return func() {}
	}
	prev := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(prev) }
}
