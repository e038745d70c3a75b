package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"citywatch/config"
	"citywatch/sim"
	"citywatch/sim/camerasim"
)

// DemoOptions are the flags of `citywatch demo`.
type DemoOptions struct {
	// DataDir keeps the data; empty means a temporary directory removed on exit.
	DataDir string
	// HTTP, MQTT and RTSP are the listen addresses of the dashboard, the embedded broker and the simulated
	// cameras.
	HTTP, MQTT, RTSP string
	// AdminToken, when set, is an admin API token with this value (CITYWATCH_ADMIN_TOKEN).
	AdminToken string
	// Devices and Rate size the sensor simulator.
	Devices int
	Rate    float64
	// LivePingInterval is Options.LivePingInterval (--live-ping-interval); zero means its default.
	LivePingInterval time.Duration
	// OfflineMap draws the city map on a plain background, without tiles (--offline-map; map.tile_url ""): the
	// demo then loads nothing from the internet (the browser tests and the bench run it so).
	OfflineMap bool
	// CameraControl, when set, is the loopback address of the simulated cameras' fault-injection API
	// (--camera-control; app/demo_cameras.go). Empty: no API, the cameras follow their schedule only.
	CameraControl string
	// AnalysisFPS is the analysis rate of the simulated cameras (--analysis-fps); zero means the analyzer's
	// default (2). At 1, one frame per keyframe interval of the simulated streams, ffmpeg decodes their
	// keyframes only: the browser tests run so.
	AnalysisFPS float64
	// Verbose logs to the logger RunDemo is given (--verbose); otherwise the demo logs to citywatch.log in
	// its data directory, so its banner (URL, login) stays the last thing on the console.
	Verbose bool
}

// demoCameras is the number of simulated cameras: DemoSchedule gives each of six a part to play. They
// require a login, like real cameras.
const (
	demoCameras        = 6
	demoCameraUser     = "viewer"
	demoCameraPassword = "demo-camera-password"
)

const demoBanner = `
citywatch demo is running.

  Dashboard:  http://%s/
  Login:      %s
  MQTT:       tcp://%s (anonymous allowed in the demo)
  Cameras:    rtsp://%s/cam1 … cam%d (simulated)
  Data:       %s
  Log:        %s

Demo only: requests without credentials may read sensor data, camera states and alerts (no video, no
changes). Sign in, or start with CITYWATCH_ADMIN_TOKEN=<16+ characters>, for the rest.
Try: curl 'http://%s/api/v1/query?query=temperature'

`

// DemoConfig is the configuration the demo runs: embedded broker open to anonymous clients, embedded TSDB,
// everything on loopback.
func DemoConfig(o DemoOptions) (*config.Config, error) {
	cfg := config.Default()
	cfg.DataDir = o.DataDir
	cfg.HTTP.Listen = o.HTTP
	cfg.Broker.Listen = o.MQTT
	cfg.Broker.AllowAnonymous = true
	cfg.Edge = config.EdgeConfig{Name: "demo", Site: "demo"}
	cfg.Ward.Sites = demoWardSites(time.Now()) // app/demo_ward.go
	cfg.Sites = demoSites()                    // app/siteplan.go: the Overview's map
	if o.OfflineMap {
		cfg.Map.TileURL = ""
	}
	if err := cfg.Complete(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// RunDemo runs the whole platform with simulated sensors and cameras until ctx ends.
func RunDemo(ctx context.Context, o DemoOptions, stdout io.Writer, log *slog.Logger) error {
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "citywatch-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.DataDir = dir
	}
	cfg, err := DemoConfig(o)
	if err != nil {
		return err
	}
	logNote := "on the console (--verbose)"
	if !o.Verbose {
		f, err := os.OpenFile(filepath.Join(cfg.DataDir, "citywatch.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("demo log: %w", err)
		}
		defer f.Close()
		log = NewLogger(f, "info", "text")
		logNote = f.Name() + " (--verbose shows it here)"
	}

	// Cameras 2–6 misbehave on a repeating schedule so the demo shows every camera state.
	simConfig, err := demoCameraSim(o)
	if err != nil {
		return err
	}
	camSim, err := camerasim.New(simConfig, log)
	if err != nil {
		return err
	}
	if err := camSim.Start(); err != nil {
		return fmt.Errorf("simulated cameras: %w", err)
	}
	defer camSim.Close()
	opts, err := demoCameraOptions(cfg, o, camSim.URL)
	if err != nil {
		return err
	}
	if !loopback(cfg.HTTP.Listen) {
		log.Warn("the dashboard listens beyond this machine: requests without credentials are refused, sign in", "http", cfg.HTTP.Listen)
	}
	login := "admin / (unchanged: see " + filepath.Join(cfg.DataDir, "initial-admin.txt") + ")"
	opts.Logger, opts.AdminToken, opts.Demo, opts.LivePingInterval = log, o.AdminToken, true, o.LivePingInterval
	opts.OnInitialAdmin = func(user, password string) { login = user + " / " + password }
	a, err := New(cfg, opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan struct{})
	runErr := make(chan error, 1)
	go func() { runErr <- a.run(ctx, started) }()
	select {
	case err := <-runErr:
		return err
	case <-started:
	}

	simCfg := sim.SensorsConfig{
		Broker: "tcp://" + a.BrokerAddr(), ClientID: "citywatch-demo-sensors", Devices: o.Devices, Rate: o.Rate,
		QoS: 1, Seed: 1,
		Faults: sim.Faults{FeverDevice: "wearable-001", FeverAfter: 10 * time.Second, SilentDevice: "room-002",
			SilentAfter: 40 * time.Second, MalformedRatio: 0.01},
	}
	simCfg = sim.WithWardLeave(simCfg) // wearable-003 walks out at 1 min and is out of range a minute later
	if err := seedDemoWard(ctx, a.Ward().Store(), simCfg, time.Now()); err != nil {
		log.Error("demo ward not seeded", "component", "ward", "err", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sim.RunSensors(ctx, simCfg, log); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("sensor simulator stopped", "err", err)
		}
	}()
	fmt.Fprintf(stdout, demoBanner, a.HTTPAddr(), login, a.BrokerAddr(), camSim.Addr(), demoCameras, cfg.DataDir, logNote, a.HTTPAddr())
	err = <-runErr
	cancel()
	wg.Wait()
	return err
}
