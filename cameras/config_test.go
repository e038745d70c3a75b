package cameras

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func goodCamera() CameraConfig {
	return CameraConfig{ID: "cam-1", URL: "rtsp://10.0.0.1:554/stream", Username: "u", Password: "hunter22"}
}

// badCameraConfigs are invalid camera configurations with the exact error each must produce.
var badCameraConfigs = []struct {
	name string
	mod  func(*CameraConfig)
	want string
}{
	{"empty id", func(c *CameraConfig) { c.ID = "" }, `cameras[0].id: must be 1-64 characters of [A-Za-z0-9_.-], not "." or "..", got ""`},
	{"id with space", func(c *CameraConfig) { c.ID = "a b" }, `cameras[0].id: must be 1-64 characters of [A-Za-z0-9_.-], not "." or "..", got "a b"`},
	{"id dot-dot", func(c *CameraConfig) { c.ID = ".." }, `cameras[0].id: must be 1-64 characters of [A-Za-z0-9_.-], not "." or "..", got ".."`},
	{"http url", func(c *CameraConfig) { c.URL = "http://x/y" }, `cameras[0].url: scheme must be rtsp or rtsps, got "http://x/y"`},
	{"credentials in url", func(c *CameraConfig) { c.URL = "rtsp://admin:hunter22@x/y" }, `cameras[0].url: must not contain credentials; use username/password, got "rtsp://x/y"`},
	{"no host", func(c *CameraConfig) { c.URL = "rtsp:///y" }, `cameras[0].url: missing host, got "rtsp:///y"`},
	{"password without user", func(c *CameraConfig) { c.Username = "" }, `cameras[0].password: set without username`},
	{"transport", func(c *CameraConfig) { c.Transport = "sctp" }, `cameras[0].transport: must be auto, tcp or udp, got "sctp"`},
	{"negative stall", func(c *CameraConfig) { c.StallTimeout = -time.Second }, `cameras[0].stall_timeout: must be > 0, got "-1s"`},
	{"max below min", func(c *CameraConfig) { c.ReconnectMin, c.ReconnectMax = 5*time.Second, time.Second }, `cameras[0].reconnect_max: must be >= reconnect_min (5s), got "1s"`},
	{"jitter", func(c *CameraConfig) { c.Jitter = 1.5 }, `cameras[0].jitter: must be in [0, 1), got 1.5`},
	{"reserved label", func(c *CameraConfig) { c.Labels = map[string]string{"site": "x"} }, `cameras[0].labels: invalid or reserved label name "site"`},
	{"fingerprint on rtsp", func(c *CameraConfig) { c.TLSFingerprint = "ab" }, `cameras[0].tls_fingerprint: only for rtsps:// URLs`},
	{"short fingerprint", func(c *CameraConfig) { c.URL, c.TLSFingerprint = "rtsps://x/y", "ab:cd" }, `cameras[0].tls_fingerprint: must be 64 hex digits (SHA-256), got "ab:cd"`},
	{"stall below check", func(c *CameraConfig) { c.StallTimeout = time.Millisecond }, `cameras[0].stall_timeout: must be >= check_interval (250ms), got "1ms"`},
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range badCameraConfigs {
		t.Run(tc.name, func(t *testing.T) {
			c := goodCamera()
			tc.mod(&c)
			_, err := New(Config{Cameras: []CameraConfig{c}}, Deps{})
			require.EqualError(t, err, "cameras: "+tc.want)
			require.NotContains(t, err.Error(), "hunter22")
		})
	}
	_, err := New(Config{Cameras: []CameraConfig{goodCamera(), goodCamera()}}, Deps{})
	require.EqualError(t, err, `cameras: cameras[1].id: "cam-1" already used by cameras[0]`)

	m, err := New(Config{Cameras: []CameraConfig{goodCamera()}}, Deps{})
	require.NoError(t, err)
	c := m.cfg.Cameras[0]
	require.Equal(t, DefaultStallTimeout, c.StallTimeout)
	require.Equal(t, DefaultReconnectMin, c.ReconnectMin)
	require.Equal(t, DefaultReconnectMax, c.ReconnectMax)
	require.Equal(t, DefaultJitter, c.Jitter)
	require.Equal(t, TransportAuto, c.Transport)
	require.Equal(t, "cam-1", c.Name)
	require.Equal(t, DefaultMetricsInterval, m.cfg.MetricsInterval)
	m.Close() // Close without Start is fine
}
