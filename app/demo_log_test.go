package app

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"citywatch/internal/testenv"
)

// TestDemoBannerThenQuiet: the demo prints its banner (dashboard URL and login) once it is up and keeps its
// own log lines off the console — they go to citywatch.log in the data directory — so a newcomer sees the
// URL; with Verbose they stay on the console.
func TestDemoBannerThenQuiet(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		t.Run(map[bool]string{false: "quiet", true: "verbose"}[verbose], func(t *testing.T) {
			dir := t.TempDir()
			stdout, console := &testenv.Buffer{}, &testenv.Buffer{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			o := DemoOptions{DataDir: dir, HTTP: "127.0.0.1:0", MQTT: "127.0.0.1:0", RTSP: "127.0.0.1:0", Devices: 3, Rate: 5, Verbose: verbose}
			go func() { done <- RunDemo(ctx, o, stdout, NewLogger(console, "info", "text")) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("RunDemo: %v", err)
				}
			})
			banner := regexp.MustCompile(`Dashboard:\s+http://127\.0\.0\.1:\d+/\s+Login:\s+admin / \S{12,}`)
			logFile := filepath.Join(dir, "citywatch.log")
			deadline := time.Now().Add(60 * time.Second)
			for !banner.MatchString(stdout.String()) {
				if time.Now().After(deadline) {
					t.Fatalf("no banner with the URL and login within 60s:\n%s", stdout.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			// The simulated sensors connect and log after the banner; wait for the log to have lines.
			target := func() string {
				if verbose {
					return console.String()
				}
				b, _ := os.ReadFile(logFile)
				return string(b)
			}
			for !strings.Contains(target(), "component=") {
				if time.Now().After(deadline) {
					t.Fatalf("no log lines (verbose %v):\nconsole: %s", verbose, console.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if verbose {
				return
			}
			if c := console.String(); c != "" {
				t.Errorf("the demo logged to the console, burying its banner:\n%s", c)
			}
			if !strings.Contains(stdout.String(), logFile) {
				t.Errorf("the banner does not say where the log is (%s):\n%s", logFile, stdout.String())
			}
		})
	}
}
