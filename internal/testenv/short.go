package testenv

import "testing"

// SkipShort skips t under `go test -short`. -short runs the unit tests only: a test that starts a real
// server (mosquitto, influxd, Prometheus, VictoriaMetrics, GStreamer), runs an external program (ffmpeg,
// chromium) or the built citywatch binary is an integration test. LookPath, StartProcess and GstRTSP call
// it, so every test that needs one of those honours -short by construction; call it directly in a test
// that is slow for another reason.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
}
