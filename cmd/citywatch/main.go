// Command citywatch watches a city's sensors and cameras: see `citywatch help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"citywatch/app"
	"citywatch/config"
	"citywatch/sim"
	"citywatch/sim/camerasim"
)

const usage = `citywatch — sensors, cameras, alerts and dashboards for a city, in one binary.

Usage:
  citywatch demo [--data DIR] [--http ADDR] [--mqtt ADDR] [--rtsp ADDR] [--verbose]
      Everything on embedded defaults plus simulated sensors; prints the dashboard URL and login
      once it is up, and logs to citywatch.log in the data dir (--verbose: to the console).
  citywatch serve --config FILE [--pprof 127.0.0.1:PORT]
      The platform as configured. SIGHUP reloads the configuration. --pprof serves Go's profiling
      endpoints on a loopback address (off by default).
  citywatch check --config FILE [--print]
      Validate a configuration file and what serve loads with it (rule files, their references to
      cameras and zones, receiver templates); errors are listed as file:line: message. --print shows
      the effective configuration with defaults (secrets redacted).
  citywatch simulate sensors [--broker URL] [--devices N] [--rate R] [--faults SPEC] [flags]
      Publish simulated quarantine-site and city sensor data to an MQTT broker. SPEC injects faults,
      e.g. "fever=wearable-001@30s,silent=room-002@2m,malformed=0.02". The password may come from
      $CITYWATCH_MQTT_PASSWORD. --ward URL also populates the ward of the citywatch at URL (its HTTP
      base) over the API: a room per simulated wearable with its bindings, case-id occupants and rooms
      without a wearable, like the demo, and rounds and night hours (from now) for a site without any;
      wearable-003 leaves its room after 1m and goes silent 1m later unless SPEC has a leave fault
      (leave=DEVICE@DELAY, leave-silent=DELAY); idempotent; the token comes from $CITYWATCH_ADMIN_TOKEN.
  citywatch simulate cameras [--listen ADDR] [--cameras N] [--control ADDR]
      Serve N simulated H.264 RTSP cameras with a fault-injection API (stall, disconnect, refuse,
      frozen, black, motion, garbage).
  citywatch version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "demo":
		setMemoryLimit()
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "serve":
		setMemoryLimit()
		err = runServe(ctx, args[1:], stderr)
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "simulate":
		err = runSimulate(ctx, args[1:], stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "citywatch", app.Version)
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "citywatch: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		var usageErr usageError
		if errors.As(err, &usageErr) {
			fmt.Fprintf(stderr, "citywatch %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "citywatch %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError marks a bad command line (exit status 2).
type usageError struct{ error }

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "configuration `file` (YAML)")
	pprofAddr := fs.String("pprof", "", "serve Go profiling endpoints (/debug/pprof/) on this loopback `address`, such as 127.0.0.1:6060; off when empty")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError{errors.New("--config is required")}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		_, stopPprof, err := startPprof(*pprofAddr, stderr)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	logger := app.NewLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	// SIGHUP is caught from here on: one that arrives while the TSDB replays its WAL waits instead of killing.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	restoreGC := startupGC() // until the stores are open: the WAL replay builds the head (memlimit.go)
	a, err := app.New(cfg, app.Options{Logger: logger, AdminToken: os.Getenv("CITYWATCH_ADMIN_TOKEN"), Flags: flagValues(fs),
		ReloadSignals: hup, ReloadConfig: func() (*config.Config, error) { return config.Load(*path) },
		OnInitialAdmin: func(user, _ string) {
			// The password goes to the file only: logs (journald, docker) are read by more people than the box.
			fmt.Fprintf(stderr, "\nCreated the first admin %q. Its password is in %s (mode 0600): sign in and change it.\n\n",
				user, filepath.Join(cfg.DataDir, "initial-admin.txt"))
		}})
	restoreGC()
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	return a.Run(ctx)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", stderr)
	path := fs.String("config", "", "configuration `file` (YAML)")
	print := fs.Bool("print", false, "print the effective configuration (defaults applied, secrets redacted)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "citywatch check: %v\n", err)
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "citywatch check: --config is required")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// Rule files, their references to cameras and the receivers, exactly as serve loads them.
	if err := app.Check(cfg); err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			if strings.HasPrefix(line, "notify.") { // a key of the configuration file (rule errors name their file)
				line = *path + ": " + line
			}
			fmt.Fprintln(stderr, line)
		}
		return 1
	}
	if *print {
		fmt.Fprint(stdout, cfg.String())
		return 0
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	var o app.DemoOptions
	fs.StringVar(&o.DataDir, "data", "", "data `dir` (default: a new temporary directory, removed on exit)")
	fs.StringVar(&o.HTTP, "http", "127.0.0.1:8080", "HTTP listen `address`")
	fs.StringVar(&o.MQTT, "mqtt", "127.0.0.1:1883", "embedded MQTT broker listen `address`")
	fs.StringVar(&o.RTSP, "rtsp", "127.0.0.1:8554", "simulated camera RTSP `address`")
	fs.IntVar(&o.Devices, "devices", 24, "simulated sensor `count`")
	fs.Float64Var(&o.Rate, "rate", 1, "messages per second per simulated sensor")
	fs.BoolVar(&o.Verbose, "verbose", false, "log to the console (default: to citywatch.log in the data dir, so the banner stays visible)")
	fs.BoolVar(&o.OfflineMap, "offline-map", false, "draw the city map without tiles (map.tile_url \"\"): load nothing from the internet")
	fs.StringVar(&o.CameraControl, "camera-control", "", "serve the simulated cameras' fault-injection HTTP API at this loopback `address` "+
		"(POST /cameras/N/fault, e.g. {\"kind\":\"refuse\",\"duration\":\"10s\"}; default off)")
	fs.Float64Var(&o.AnalysisFPS, "analysis-fps", 0, "frames per second the simulated cameras' motion and tamper analysis decodes "+
		"(default 2; at 1 only their keyframes are decoded: the browser tests run so)")
	fs.DurationVar(&o.LivePingInterval, "live-ping-interval", 0, "how often the dashboard's live stream pings pages (default 5s; the browser tests shorten it)")
	o.AdminToken = os.Getenv("CITYWATCH_ADMIN_TOKEN")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger := app.NewLogger(stderr, "info", "text")
	return app.RunDemo(ctx, o, stdout, logger)
}

func runSimulate(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "cameras" {
		return runSimulateCameras(ctx, args[1:], stderr)
	}
	if len(args) == 0 || args[0] != "sensors" {
		return usageError{errors.New(`want "simulate sensors" or "simulate cameras"`)}
	}
	fs := newFlags("simulate sensors", stderr)
	cfg := sim.SensorsConfig{}
	cfg.RegisterFlags(fs)
	wardURL := fs.String("ward", "", "populate the ward of the citywatch at this HTTP base `URL` (e.g. http://127.0.0.1:8080) "+
		"with rooms, bindings and occupants for the simulated wearables; the token comes from $CITYWATCH_ADMIN_TOKEN")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if cfg.Password == "" {
		cfg.Password = os.Getenv("CITYWATCH_MQTT_PASSWORD")
	}
	logger := app.NewLogger(stderr, "info", "text")
	if *wardURL != "" {
		u, err := url.Parse(*wardURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			shown := "" // the value is not repeated when it may carry a password
			if err == nil {
				shown = " " + strconv.Quote(u.Redacted())
			}
			return usageError{fmt.Errorf("--ward%s: want an http:// or https:// base URL without credentials", shown)}
		}
		token := os.Getenv("CITYWATCH_ADMIN_TOKEN")
		if token == "" {
			return usageError{errors.New("--ward needs $CITYWATCH_ADMIN_TOKEN (a token with the ward permission)")}
		}
		cfg = sim.WithWardLeave(cfg)
		go sim.RunWardSeed(ctx, sim.WardSeeder{Base: *wardURL, Token: token}, sim.WardSeed(cfg), logger)
	}
	if err := sim.RunSensors(ctx, cfg, logger); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func runSimulateCameras(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("simulate cameras", stderr)
	var cfg camerasim.Config
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8554", "RTSP listen `address`")
	fs.IntVar(&cfg.Cameras, "cameras", 4, "number of simulated `cameras` (rtsp://ADDR/cam1 … camN)")
	fs.StringVar(&cfg.ControlListen, "control", "127.0.0.1:8555", "fault-injection HTTP API `address` (\"\" disables)")
	fs.StringVar(&cfg.Username, "username", "", "require this RTSP username (password from $CITYWATCH_CAMERA_PASSWORD)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Password = os.Getenv("CITYWATCH_CAMERA_PASSWORD")
	logger := app.NewLogger(stderr, "info", "text")
	srv, err := camerasim.New(cfg, logger)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stderr, "simulated cameras: %s … %s\n", srv.URL(1), srv.URL(cfg.Cameras))
	if a := srv.ControlAddr(); a != "" {
		fmt.Fprintf(stderr, "inject faults: curl -X POST http://%s/cameras/1/fault -d '{\"kind\":\"stall\",\"duration\":\"10s\"}'\n", a)
	}
	<-ctx.Done()
	return nil
}
