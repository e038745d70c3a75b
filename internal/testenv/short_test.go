package testenv

import "testing"

// starters are the ways testenv starts something outside the test process.
var starters = map[string]func(testing.TB){
	"LookPath":        func(t testing.TB) { LookPath(t, "sh") },
	"StartProcess":    func(t testing.TB) { StartProcess(t, "/bin/sleep", nil, "60") },
	"Mosquitto":       func(t testing.TB) { Mosquitto(t) },
	"Influxd":         func(t testing.TB) { Influxd(t) },
	"Prometheus":      func(t testing.TB) { Prometheus(t) },
	"VictoriaMetrics": func(t testing.TB) { VictoriaMetrics(t) },
	"GstRTSP":         func(t testing.TB) { GstRTSP(t, "/cam", "videotestsrc ! x264enc ! rtph264pay name=pay0") },
}

// TestStartersSkipUnderShort: under -short every starter skips its test, so `go test -short ./...` starts no
// real server and no external program.
func TestStartersSkipUnderShort(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks what -short does; run with -short")
	}
	for name, start := range starters {
		t.Run(name, func(t *testing.T) {
			start(t)
			t.Errorf("%s started under -short", name)
		})
	}
}
