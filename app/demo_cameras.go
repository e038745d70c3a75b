package app

import (
	"fmt"

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
