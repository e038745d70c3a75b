//go:build race

package mapping

// raceEnabled says the race detector is on: sync.Pool then drops items at random, so allocations are not counted.
const raceEnabled = true
