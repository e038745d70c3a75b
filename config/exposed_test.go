package config

import (
	"testing"
	"time"
)

// TestCompleteDefaultsExposedKeys: a Config built in code before the keys existed (zero values) keeps the
// components' defaults through Complete, while a file that sets them to 0 is refused (exposed_keys.bad.yaml).
func TestCompleteDefaultsExposedKeys(t *testing.T) {
	c := Default()
	c.Cameras = []CameraConfig{{ID: "cam1", Site: "s", URL: "rtsp://cam.example/s", Transport: TransportAuto,
		StallTimeout: Duration(3 * time.Second), ReconnectMin: Duration(time.Second), ReconnectMax: Duration(time.Minute),
		AnalysisFPS: 2, ClipPre: Duration(time.Second), ClipPost: Duration(time.Second)}}
	c.Storage.Influx.RetryInitial, c.Storage.Influx.RetryMax, c.Storage.Influx.DeadLetterMaxBytes = 0, 0, 0
	c.Media.RingMaxBytes = 0
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	cam, in := c.Cameras[0], c.Storage.Influx
	got := [...]any{cam.KeyframeTimeout, cam.MinFPSRatio, cam.MaxLossRatio, in.RetryInitial, in.RetryMax, in.DeadLetterMaxBytes,
		c.Media.RingMaxBytes}
	want := [...]any{Duration(10 * time.Second), 0.5, 0.05, Duration(time.Second), Duration(time.Minute), ByteSize(16 << 20),
		ByteSize(32 << 20)}
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}
