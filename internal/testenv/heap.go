package testenv

import "runtime"

// HeapAlloc is the Go heap's live bytes after two collections (the second frees what the first's finalizers
// released): the figure a memory-per-thing test subtracts before and after building the things.
func HeapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
