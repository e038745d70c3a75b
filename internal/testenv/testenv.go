// Package testenv starts real servers (mosquitto, influxd, victoria-metrics, prometheus) and tools (ffmpeg,
// chromium) for integration tests, on free loopback ports. A missing dependency skips the test on a developer
// machine and fails it when CI=true: in CI integration tests never skip.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// InCI reports whether the tests run in CI, where a missing dependency is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// LookPath finds an executable on PATH or in extra directories (such as the test dependency cache) and ends
// the test when it is missing: t.Fatal in CI, t.Skip elsewhere, each saying how to install it. Under -short
// it skips the test (SkipShort): a test that needs an external program is an integration test.
func LookPath(t testing.TB, name string, extraDirs ...string) string {
	t.Helper()
	SkipShort(t)
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range append(extraDirs, CacheBin()) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := name + " not found on PATH or in " + CacheBin() + "; run scripts/install-test-deps.sh (make test does)"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// CacheBin is where scripts/install-test-deps.sh puts binaries it builds ($HOME/.cache/citywatch/bin, or
// $CITYWATCH_TEST_BIN), outside the repo so CI reuses them.
func CacheBin() string {
	if d := os.Getenv("CITYWATCH_TEST_BIN"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "citywatch", "bin")
}

// FreePort returns a loopback TCP address with a port that was free a moment ago, never one it returned
// before in this process (the kernel may hand a just-closed port out again: a demo once got the same port for
// its HTTP and MQTT listeners). Prefer listening on 127.0.0.1:0 in process; this is for child processes that
// must be told their port.
func FreePort(t testing.TB) string {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		addr := l.Addr().String()
		l.Close()
		if _, seen := givenPorts.LoadOrStore(addr, struct{}{}); !seen {
			return addr
		}
	}
}

// givenPorts are the addresses FreePort returned.
var givenPorts sync.Map
