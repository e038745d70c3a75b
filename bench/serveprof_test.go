package main

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServeArgsPprof: a serve child gets --pprof on a loopback port only when CITYWATCH_BENCH_SERVE_PPROF asks
// for profiles, and the same port again when it restarts (the cold start's profile).
func TestServeArgsPprof(t *testing.T) {
	t.Setenv("CITYWATCH_BENCH_SERVE_PPROF", "")
	var s serveProc
	require.Equal(t, []string{"serve", "--config", "c.yaml"}, s.serveArgs("c.yaml"))
	require.Empty(t, s.pprof)

	t.Setenv("CITYWATCH_BENCH_SERVE_PPROF", t.TempDir())
	args := s.serveArgs("c.yaml")
	i := slices.Index(args, "--pprof")
	require.GreaterOrEqual(t, i, 0, "args %q", args)
	require.Regexp(t, `^127\.0\.0\.1:\d+$`, args[i+1])
	require.Equal(t, args, s.serveArgs("c.yaml"), "a restart reuses the port")
}

// TestProcCPU: the CPU time read from /proc grows as the process works.
func TestProcCPU(t *testing.T) {
	before, err := procCPU(os.Getpid())
	require.NoError(t, err)
	require.GreaterOrEqual(t, before, time.Duration(0))
	x := 0
	for {
		for i := range 1 << 20 {
			x += i
		}
		now, err := procCPU(os.Getpid())
		require.NoError(t, err)
		if now > before {
			break
		}
	}
	_ = x
	_, err = procCPU(-1)
	require.Error(t, err)
}
