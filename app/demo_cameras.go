package app

import (
	"fmt"
	"strconv"

	"citywatch/cameras"
	"citywatch/config"
	"citywatch/sim/camerasim"
)

// demoCameraSim is the configuration of the demo's simulated cameras: demoCameras cameras that require a
// login and misbehave on camerasim.DemoSchedule, repeating; with o.CameraControl (--camera-control) the
// simulator also serves its fault-injection API there, so a user (or a browser test) can take a camera down
// at once instead of waiting for the schedule. The API has no authentication: it must listen on loopback.
func demoCameraSim(o DemoOptions) (camerasim.Config, error) {
	schedule, period := camerasim.DemoSchedule()
	cfg := camerasim.Config{Listen: o.RTSP, Cameras: demoCameras, Schedule: schedule, ScheduleRepeat: period,
		Username: demoCameraUser, Password: demoCameraPassword}
	if o.CameraControl != "" {
		if !loopback(o.CameraControl) {
			return camerasim.Config{}, fmt.Errorf("--camera-control %q: must be a loopback address (the fault-injection API has no authentication)", o.CameraControl)
		}
		cfg.ControlListen = o.CameraControl
	}
	return cfg, nil
}

// demoCameraOptions returns the Options that carry the demo's cameras, served by the simulator at url(n):
// demoCameras of them at two sites and a door camera with a wrong password, all analysed at o.AnalysisFPS
// (--analysis-fps); demoMaskedCamera moves into cfg as a configured camera with its privacy mask.
func demoCameraOptions(cfg *config.Config, o DemoOptions, url func(n int) string) (Options, error) {
	if o.AnalysisFPS != 0 && (o.AnalysisFPS < 0.01 || o.AnalysisFPS > 30) {
		return Options{}, fmt.Errorf("--analysis-fps %v: must be from 0.01 to 30", o.AnalysisFPS)
	}
	cams := make([]cameras.CameraConfig, demoCameras)
	for i := range cams {
		n := i + 1
		site := "q-hotel-1"
		if n > demoCameras/2 {
			site = "embankment"
		}
		cams[i] = cameras.CameraConfig{ID: "cam" + strconv.Itoa(n), Name: "Corridor camera " + strconv.Itoa(n),
			Site: site, URL: url(n), Username: demoCameraUser, Password: demoCameraPassword}
	}
	// One more camera whose configured password is wrong, so the demo shows the unauthorized state too (with
	// the long backoff, not a retry storm).
	cams = append(cams, cameras.CameraConfig{ID: "door1", Name: "Door camera (wrong password)", Site: "q-hotel-2",
		URL: url(1), Username: demoCameraUser, Password: "not-the-password"})
	first := len(cfg.Cameras)
	cams = withDemoPrivacyMask(cfg, cams) // app/privacy.go
	if o.AnalysisFPS != 0 {
		for i := first; i < len(cfg.Cameras); i++ {
			cfg.Cameras[i].AnalysisFPS = o.AnalysisFPS
		}
	}
	return Options{Cameras: cams, CameraAnalysisFPS: o.AnalysisFPS}, nil
}
