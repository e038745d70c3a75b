//go:build race

package main_test

// raceEnabled: this test binary is built with -race, so the citywatch binary the e2e tests drive is too.
const raceEnabled = true
