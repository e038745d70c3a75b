package tsdb

import (
	"bufio"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Sizing of the automatic head series limit: a head series costs about 2–3 KiB of process memory (measured as
// RSS under serve at 100k and 1M series), counted here as 4 KiB for margin, and the head may take a quarter of
// the memory the process can have, so queries, the page cache and the rest of the pipeline keep theirs.
const (
	bytesPerHeadSeries   = 4 << 10
	headMemoryFraction   = 4
	minAutoHeadSeries    = 10_000
	maxAutoHeadSeries    = 2_000_000
	defaultMemoryIfBlind = 2 << 30 // when no limit can be read: size for a 2 GiB box
)

// AutoMaxHeadSeries returns the head series limit used when none is configured: a quarter of the memory
// available to the process (the smallest of GOMEMLIMIT, the cgroup limit and the machine's memory) at 4 KiB per
// series, between 10,000 and 2,000,000. A 2 GiB edge box gets about 131,000, a 16 GiB one 1,000,000.
func AutoMaxHeadSeries() int {
	return autoMaxHeadSeries(availableMemory())
}

func autoMaxHeadSeries(mem uint64) int {
	n := mem / headMemoryFraction / bytesPerHeadSeries
	return int(min(max(n, minAutoHeadSeries), maxAutoHeadSeries))
}

// availableMemory returns the smallest memory bound the process is under, or defaultMemoryIfBlind.
func availableMemory() uint64 {
	mem := uint64(math.MaxUint64)
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		mem = uint64(l)
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			mem = min(mem, v)
		}
	}
	if v, ok := memTotal(); ok {
		mem = min(mem, v)
	}
	if mem == math.MaxUint64 {
		return defaultMemoryIfBlind
	}
	return mem
}

// memTotal reads MemTotal from /proc/meminfo (Linux).
func memTotal() (uint64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// MemoryBound returns the smallest memory bound the process is under (GOMEMLIMIT, the cgroup limit, the
// machine's memory) and whether one was found.
func MemoryBound() (uint64, bool) {
	mem := availableMemory()
	return mem, mem != defaultMemoryIfBlind
}
