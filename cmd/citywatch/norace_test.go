//go:build !race

package main_test

// raceEnabled: this test binary is built without -race, so the citywatch binary the e2e tests drive is
// too (a race build takes minutes on two cores; `make test` runs with -race and gets a race binary).
const raceEnabled = false
