package main

// CITYWATCH_BENCH_SERVE_PPROF=<dir> starts every `citywatch serve` child with --pprof on a loopback port. The
// scale rows save, in <dir>, a CPU profile of the steady phase (at most 20 s, from its start) and a heap profile
// at its end, a CPU profile of the one-site range query (the query looped for 5 s) and a CPU profile of the cold
// start after SIGKILL (the first 40 s after exec); the serve rounds of the external mosquitto rows save a CPU
// profile of 5 s from the start of their timed delivery. Files are named serve-<series>-<what>.pprof; read them
// with `go tool pprof -top -cum <binary> <file>` (the binary's path is printed with them).

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// serveProfileDir is where the scale rows save serve's profiles; "" when profiling is off.
func serveProfileDir() string { return os.Getenv("CITYWATCH_BENCH_SERVE_PPROF") }

// serveProfile fetches path (e.g. "profile?seconds=20" or "heap") from a serve child's pprof endpoint into
// <dir>/serve-<series>-<what>.pprof. It returns a function that waits for the fetch and reports its error.
func (s *serveProc) serveProfile(series int, what, path string) func() error {
	done := make(chan error, 1)
	if s.pprof == "" {
		done <- nil
		return func() error { return <-done }
	}
	go func() {
		done <- func() error {
			resp, err := http.Get("http://" + s.pprof + "/debug/pprof/" + path)
			if err != nil {
				return fmt.Errorf("pprof %s: %w", what, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("pprof %s: %s", what, resp.Status)
			}
			file := filepath.Join(serveProfileDir(), "serve-"+strconv.Itoa(series)+"-"+what+".pprof")
			f, err := os.Create(file)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return err
			}
			bin, _ := citywatchBinary()
			fmt.Fprintf(os.Stderr, "bench: serve profile %s (binary %s)\n", file, bin)
			return f.Close()
		}()
	}()
	return func() error { return <-done }
}

// cpuProfilePath is the pprof path of a CPU profile of d.
func cpuProfilePath(d time.Duration) string {
	return "profile?seconds=" + strconv.Itoa(max(int(d.Seconds()), 1))
}
