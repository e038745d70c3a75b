package main

import (
	"slices"
	"testing"

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
