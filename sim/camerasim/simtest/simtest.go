// Package simtest runs the RTSP camera simulator for a test.
package simtest

import (
	"testing"

	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
)

// Start starts a simulator with cfg (Listen defaults to 127.0.0.1:0) and closes it when the test ends. It
// streams in real time, so a test using it is an integration test: skipped under -short. It fails the test
// on error and must be called from the test goroutine.
func Start(t testing.TB, cfg camerasim.Config) *camerasim.Server {
	t.Helper()
	testenv.SkipShort(t)
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	sim, err := camerasim.New(cfg, nil)
	if err != nil {
		t.Fatalf("camera simulator: %v", err)
	}
	if err := sim.Start(); err != nil {
		t.Fatalf("camera simulator: %v", err)
	}
	t.Cleanup(sim.Close)
	return sim
}
