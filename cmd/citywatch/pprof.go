package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves Go's profiling endpoints (/debug/pprof/...) on addr, which must be a loopback address:
// profiles show internals (stacks, allocation sites) and a CPU profile costs CPU, so they are for an operator
// on the box, not for the network. It returns the bound address and a function that stops the server.
func startPprof(addr string, stderr io.Writer) (string, func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", nil, usageError{fmt.Errorf("--pprof %q: %w", addr, err)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", nil, usageError{fmt.Errorf("--pprof %q: must be a loopback address such as 127.0.0.1:6060", addr)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "citywatch: pprof server: %v\n", err)
		}
	}()
	fmt.Fprintf(stderr, "citywatch: profiling endpoints on http://%s/debug/pprof/\n", ln.Addr())
	return ln.Addr().String(), func() { _ = srv.Close(); <-done }, nil
}
