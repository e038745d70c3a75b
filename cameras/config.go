package cameras

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"citywatch/config"
)

// Transport values for CameraConfig.Transport.
const (
	TransportAuto = "auto"
	TransportTCP  = "tcp"
	TransportUDP  = "udp"
)

// CameraConfig configures one monitored camera.
type CameraConfig struct {
	// ID identifies the camera in the API and the "camera" label: 1–64 characters of [A-Za-z0-9_.-]. Required.
	ID string
	// Name is a human name. It defaults to ID.
	Name string
	// Site is the "site" label of the camera's samples. Optional.
	Site string
	// Labels are extra labels on the camera's samples. "camera" and "site" are reserved.
	Labels map[string]string
	// URL is the rtsp:// or rtsps:// stream URL, without userinfo (credentials go in Username/Password).
	URL string
	// Username for RTSP Basic/Digest auth. Optional.
	Username string
	// Password for RTSP auth; a secret: never logged or shown.
	Password string
	// TLSFingerprint, for rtsps:// cameras with self-signed certificates, is the hex SHA-256 of the camera's
	// leaf certificate (DER); when set it replaces chain verification. Empty: the system roots verify.
	TLSFingerprint string
	// Transport is auto (UDP, then TCP), tcp or udp. It defaults to auto.
	Transport string
	// StallTimeout: an open session without RTP packets for this long is stalled. It defaults to 3s.
	// The RTSP read/write timeouts are twice this.
	StallTimeout time.Duration
	// ReconnectMin is the first reconnect delay. It defaults to 1s.
	ReconnectMin time.Duration
	// ReconnectMax caps the exponential reconnect delay, and is the delay after a 401. It defaults to 30s.
	ReconnectMax time.Duration
	// Jitter spreads reconnect delays by ±Jitter×delay so cameras do not reconnect in lockstep. It defaults
	// to 0.2; it must be in [0, 1).
	Jitter float64
	// KeyframeTimeout: no decodable keyframe for this long is degraded. It defaults to 10s.
	KeyframeTimeout time.Duration
	// MinFPSRatio: a measured frame rate below MinFPSRatio × the announced rate is degraded. It defaults to 0.5.
	MinFPSRatio float64
	// MaxLossRatio: packet loss above this ratio is degraded. It defaults to 0.05.
	MaxLossRatio float64
}

// Config configures the monitor.
type Config struct {
	// Cameras are the monitored cameras; IDs must be unique.
	Cameras []CameraConfig
	// MetricsInterval is how often camera samples are appended. It defaults to 1s.
	MetricsInterval time.Duration
	// CheckInterval is how often health is re-evaluated; a stall is detected within StallTimeout plus
	// CheckInterval. It defaults to 250ms and must not exceed any StallTimeout.
	CheckInterval time.Duration
	// EventBuffer bounds the queue of state-change events waiting for Deps.Events; when it is full, events
	// are dropped and counted. It defaults to 1024.
	EventBuffer int
}

// Defaults.
const (
	DefaultStallTimeout    = 3 * time.Second
	DefaultReconnectMin    = time.Second
	DefaultReconnectMax    = 30 * time.Second
	DefaultJitter          = 0.2
	DefaultKeyframeTimeout = 10 * time.Second
	DefaultMinFPSRatio     = 0.5
	DefaultMaxLossRatio    = 0.05
	DefaultMetricsInterval = time.Second
	DefaultCheckInterval   = 250 * time.Millisecond
	DefaultEventBuffer     = 1024
	// maxCorruptRatio is the fraction of corrupt frames above which video is undecodable.
	maxCorruptRatio = 0.2
)

// SetDefaults fills zero fields with their defaults. A zero Jitter means the default (0.2); use a tiny
// value such as 0.001 to practically disable it.
func (c *Config) SetDefaults() {
	if c.MetricsInterval == 0 {
		c.MetricsInterval = DefaultMetricsInterval
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	for i := range c.Cameras {
		c.Cameras[i].setDefaults()
	}
}

func (c *CameraConfig) setDefaults() {
	if c.Name == "" {
		c.Name = c.ID
	}
	if c.Transport == "" {
		c.Transport = TransportAuto
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.KeyframeTimeout == 0 {
		c.KeyframeTimeout = DefaultKeyframeTimeout
	}
	if c.MinFPSRatio == 0 {
		c.MinFPSRatio = DefaultMinFPSRatio
	}
	if c.MaxLossRatio == 0 {
		c.MaxLossRatio = DefaultMaxLossRatio
	}
}

var labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks a defaulted Config; errors name the field and quote the bad value (never a password).
func (c *Config) Validate() error {
	if c.MetricsInterval <= 0 {
		return fmt.Errorf("metrics_interval: must be > 0, got %q", c.MetricsInterval)
	}
	if c.CheckInterval <= 0 {
		return fmt.Errorf("check_interval: must be > 0, got %q", c.CheckInterval)
	}
	if c.EventBuffer < 1 {
		return fmt.Errorf("event_buffer: must be >= 1, got %d", c.EventBuffer)
	}
	seen := make(map[string]int, len(c.Cameras))
	var errs []error
	for i := range c.Cameras {
		cc := &c.Cameras[i]
		if j, dup := seen[cc.ID]; dup {
			errs = append(errs, fmt.Errorf("cameras[%d].id: %q already used by cameras[%d]", i, cc.ID, j))
			continue
		}
		seen[cc.ID] = i
		if err := cc.validate(); err != nil {
			errs = append(errs, fmt.Errorf("cameras[%d].%w", i, err))
			continue
		}
		if c.CheckInterval > cc.StallTimeout {
			errs = append(errs, fmt.Errorf("cameras[%d].stall_timeout: must be >= check_interval (%s), got %q", i, c.CheckInterval, cc.StallTimeout))
		}
	}
	return errors.Join(errs...)
}

func (c *CameraConfig) validate() error {
	if !config.ValidCameraID(c.ID) {
		return fmt.Errorf("id: must be %s, got %q", config.CameraIDRule, c.ID)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Parse errors quote the input, which may hold credentials.
		return fmt.Errorf("url: not a valid URL: %q", redactURL(c.URL))
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("url: scheme must be rtsp or rtsps, got %q", redactURL(c.URL))
	}
	if u.User != nil {
		return fmt.Errorf("url: must not contain credentials; use username/password, got %q", redactURL(c.URL))
	}
	if u.Host == "" {
		return fmt.Errorf("url: missing host, got %q", c.URL)
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("password: set without username")
	}
	if c.TLSFingerprint != "" {
		if u.Scheme != "rtsps" {
			return errors.New("tls_fingerprint: only for rtsps:// URLs")
		}
		if !config.ValidFingerprint(c.TLSFingerprint) {
			return fmt.Errorf("tls_fingerprint: must be 64 hex digits (SHA-256), got %q", c.TLSFingerprint)
		}
	}
	switch c.Transport {
	case TransportAuto, TransportTCP, TransportUDP:
	default:
		return fmt.Errorf("transport: must be auto, tcp or udp, got %q", c.Transport)
	}
	for name, d := range map[string]time.Duration{
		"stall_timeout": c.StallTimeout, "reconnect_min": c.ReconnectMin,
		"reconnect_max": c.ReconnectMax, "keyframe_timeout": c.KeyframeTimeout,
	} {
		if d <= 0 {
			return fmt.Errorf("%s: must be > 0, got %q", name, d)
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("reconnect_max: must be >= reconnect_min (%s), got %q", c.ReconnectMin, c.ReconnectMax)
	}
	if c.Jitter < 0 || c.Jitter >= 1 {
		return fmt.Errorf("jitter: must be in [0, 1), got %v", c.Jitter)
	}
	if c.MinFPSRatio < 0 || c.MinFPSRatio > 1 {
		return fmt.Errorf("min_fps_ratio: must be in [0, 1], got %v", c.MinFPSRatio)
	}
	if c.MaxLossRatio < 0 || c.MaxLossRatio > 1 {
		return fmt.Errorf("max_loss_ratio: must be in [0, 1], got %v", c.MaxLossRatio)
	}
	for k, v := range c.Labels {
		if !labelRE.MatchString(k) || k == "camera" || k == "site" || k == "__name__" {
			return fmt.Errorf("labels: invalid or reserved label name %q", k)
		}
		if v == "" {
			return fmt.Errorf("labels.%s: must not be empty", k)
		}
	}
	return nil
}

func (c *CameraConfig) healthConfig() HealthConfig {
	return HealthConfig{
		StallTimeout:    c.StallTimeout,
		KeyframeTimeout: c.KeyframeTimeout,
		MinFPSRatio:     c.MinFPSRatio,
		MaxLossRatio:    c.MaxLossRatio,
		MaxCorruptRatio: maxCorruptRatio,
	}
}
