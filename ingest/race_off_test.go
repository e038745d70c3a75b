//go:build !race

package ingest

// raceEnabled says the race detector is on: tests shrink what multiplies its memory.
const raceEnabled = false
