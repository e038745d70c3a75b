package main

import (
	"errors"
	"io"
	"net/http"
	"testing"
)

// TestPprofLoopbackOnly: --pprof serves the profiling endpoints on a loopback address and refuses any other,
// since profiles show internals and cost CPU.
func TestPprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		_, stop, err := startPprof(addr, io.Discard)
		var usage usageError
		if !errors.As(err, &usage) {
			if stop != nil {
				stop()
			}
			t.Errorf("--pprof %q: got %v, want a usage error", addr, err)
		}
	}
	bound, stop, err := startPprof("127.0.0.1:0", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + bound + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/debug/pprof/cmdline: %s", resp.Status)
	}
}
