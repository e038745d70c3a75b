package app

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/cameras/analyze"
	"citywatch/sim/camerasim"
)

// demoCameraControlCases are --camera-control values and what the demo makes of them.
var demoCameraControlCases = []struct {
	name, control string
	wantListen    string // the simulator's ControlListen
	wantErr       string // "" for no error
}{
	{"off by default", "", "", ""},
	{"loopback v4", "127.0.0.1:0", "127.0.0.1:0", ""},
	{"loopback v6", "[::1]:8555", "[::1]:8555", ""},
	{"localhost", "localhost:8555", "localhost:8555", ""},
	{"every interface refused", "0.0.0.0:8555", "", `--camera-control "0.0.0.0:8555": must be a loopback address`},
	{"another host refused", "192.0.2.1:8555", "", "must be a loopback address"},
	{"no port refused", "127.0.0.1", "", "must be a loopback address"},
}

// TestDemoCameraControl: the demo's simulated cameras serve their fault-injection API only when asked, and
// only on loopback (it has no authentication); the schedule runs either way.
func TestDemoCameraControl(t *testing.T) {
	for _, c := range demoCameraControlCases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := demoCameraSim(DemoOptions{RTSP: "127.0.0.1:0", CameraControl: c.control})
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.wantListen, cfg.ControlListen)
			require.Equal(t, demoCameras, cfg.Cameras)
			require.NotEmpty(t, cfg.Schedule)
			require.Positive(t, cfg.ScheduleRepeat)
		})
	}
}

// TestDemoCameraControlTakesACameraDown starts the demo's simulator with --camera-control on a free port and
// takes camera 4 down through the API, as the browser tests do.
func TestDemoCameraControlTakesACameraDown(t *testing.T) {
	cfg, err := demoCameraSim(DemoOptions{RTSP: "127.0.0.1:0", CameraControl: "127.0.0.1:0"})
	require.NoError(t, err)
	srv, err := camerasim.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(srv.Close)
	require.NotEmpty(t, srv.ControlAddr())
	resp, err := http.Post(fmt.Sprintf("http://%s/cameras/4/fault", srv.ControlAddr()), "application/json",
		strings.NewReader(`{"kind":"refuse"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	var kind camerasim.FaultKind
	for _, f := range srv.Faults() {
		if f.Camera == 4 {
			kind = f.Kind
		}
	}
	require.Equal(t, camerasim.FaultRefuse, kind)
}

// demoAnalysisFPSCases are --analysis-fps values and what the demo makes of them.
var demoAnalysisFPSCases = []struct {
	name    string
	fps     float64
	wantErr string // "" for no error
}{
	{"the analyzer's default", 0, ""},
	{"keyframes of the simulated streams only", 1, ""},
	{"the analyzer's most", 30, ""},
	{"negative refused", -1, `--analysis-fps -1: must be from 0.01 to 30`},
	{"above the analyzer's most refused", 31, `--analysis-fps 31: must be from 0.01 to 30`},
}

// TestDemoAnalysisFPS: --analysis-fps sets the analysis rate of every demo camera, the masked one (a
// configured camera) and the others (cameras of Options) alike; without it the analyzer's default holds.
func TestDemoAnalysisFPS(t *testing.T) {
	var analyzerDefault analyze.CameraConfig
	analyzerDefault.SetDefaults()
	for _, c := range demoAnalysisFPSCases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := DemoConfig(DemoOptions{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", MQTT: "127.0.0.1:0"})
			require.NoError(t, err)
			opts, err := demoCameraOptions(cfg, DemoOptions{AnalysisFPS: c.fps}, func(n int) string {
				return fmt.Sprintf("rtsp://127.0.0.1:8554/cam%d", n)
			})
			if c.wantErr != "" {
				require.EqualError(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			_, acams, _, err := (&App{opts: opts}).cameraSets(cfg.Cameras)
			require.NoError(t, err)
			require.Len(t, acams, demoCameras+1) // and the door camera with the wrong password
			want := c.fps
			if want == 0 {
				want = analyzerDefault.AnalysisFPS
			}
			for _, ac := range acams {
				ac.SetDefaults()
				require.Equal(t, want, ac.AnalysisFPS, "camera %s", ac.ID)
			}
		})
	}
}
