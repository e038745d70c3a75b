package app

import (
	"reflect"
	"testing"
	"time"

	"citywatch/cameras"
	"citywatch/cameras/media"
	"citywatch/config"
	"citywatch/store/influx"
	"citywatch/store/remotewrite"
)

// exposedKeysYAML sets every key issue 13 exposed to a non-default value.
const exposedKeysYAML = `
storage:
  influx:
    url: http://influx.example:8086
    org: o
    bucket: b
    retry_initial: 2s
    retry_max: 5m
    tags: {city: hanoi}
    dead_letter_max_bytes: 1MiB
  remote_write:
    - name: centre
      url: http://vm.example:8428/api/v1/write
      dead_letter_max_bytes: 2MiB
cameras:
  - id: Cam.1
    site: s
    url: rtsps://cam.example:322/s
    tls_fingerprint: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
    keyframe_timeout: 4s
    min_fps_ratio: 0.25
    max_loss_ratio: 0.2
media:
  ring_max_bytes: 8MiB
`

// TestExposedKeysTakeEffect: each key reaches the component that acts on it (the monitor's health thresholds and
// certificate pin, the forwarder's backoff, tags and dead-letter bound). Before issue 13 the file did not even
// load: the keys were unknown.
func TestExposedKeysTakeEffect(t *testing.T) {
	cfg, err := config.Parse([]byte(exposedKeysYAML), "exposed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cam := cameras.CameraFromConfig(cfg.Cameras[0])
	gotCam := [...]any{cam.ID, cam.TLSFingerprint, cam.KeyframeTimeout, cam.MinFPSRatio, cam.MaxLossRatio}
	wantCam := [...]any{"Cam.1", cfg.Cameras[0].TLSFingerprint, 4 * time.Second, 0.25, 0.2}
	if gotCam != wantCam {
		t.Errorf("camera: got %v, want %v", gotCam, wantCam)
	}
	// The monitor accepts it as configured (the fingerprint's colon form included).
	if _, err := cameras.New(cameras.Config{Cameras: []cameras.CameraConfig{cam}}, cameras.Deps{}); err != nil {
		t.Errorf("cameras.New: %v", err)
	}
	ic := influx.ConfigFromConfig(cfg.Storage.Influx, cfg.Edge)
	if ic.RetryInitial != 2*time.Second || ic.RetryMax != 5*time.Minute || ic.DeadLetterMaxBytes != 1<<20 ||
		!reflect.DeepEqual(ic.Tags, map[string]string{"city": "hanoi"}) {
		t.Errorf("influx: retry %s..%s, tags %v, dead letter %d", ic.RetryInitial, ic.RetryMax, ic.Tags, ic.DeadLetterMaxBytes)
	}
	if rw := remotewrite.ConfigFromConfig(cfg.Storage.RemoteWrite[0], cfg.Edge); rw.DeadLetterMaxBytes != 2<<20 {
		t.Errorf("remote write dead letter %d", rw.DeadLetterMaxBytes)
	}
	if mc := media.ConfigFromConfig("data", cfg.Media); mc.RingMaxBytes != 8<<20 {
		t.Errorf("media ring bound %d", mc.RingMaxBytes)
	}
}
