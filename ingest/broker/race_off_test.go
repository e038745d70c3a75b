//go:build !race

package broker

// raceEnabled says the race detector is on: sync.Pool drops items at random and allocation counts mean
// nothing.
const raceEnabled = false
