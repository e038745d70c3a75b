package config

import (
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// Default returns a Config with every static default set. This file is the one place defaults are set;
// the field comments in config.go state the same values.
func Default() *Config {
	return &Config{
		DataDir: "data",
		Media: MediaConfig{
			RingSeconds:   Duration(30 * time.Second),
			RingMaxBytes:  32 << 20,
			ClipRetention: Duration(7 * 24 * time.Hour),
			ClipMaxBytes:  2 << 30,
		},
		Log:  LogConfig{Level: LogLevelInfo, Format: LogFormatText},
		HTTP: HTTPConfig{Listen: "127.0.0.1:8080", Limits: defaultHTTPLimits(), Query: defaultHTTPQuery()},
		Broker: BrokerConfig{
			Listen:          "127.0.0.1:1883",
			MaxMessageBytes: 256 << 10,
		},
		Ingest: IngestConfig{
			MaxPayloadBytes: 64 << 10,
			DeadLetterSize:  1000,
			DefaultMapping:  true,
			// Door limits (time sanity, cardinality); see docs/operations.md.
			MaxFutureSkew:      Duration(10 * time.Minute),
			MaxSeriesPerDevice: 200,
			// Device registry bound and persistence; see ingest/registry.go.
			MaxDevices:         100000,
			DeviceSaveInterval: Duration(time.Minute),
			// Payload limits; see ingest/mapping.
			MaxFieldsPerMessage: 1000,
		},
		Storage: StorageConfig{
			TSDB: TSDBConfig{
				Retention:        Duration(15 * 24 * time.Hour),
				OutOfOrderWindow: Duration(time.Hour),
			},
			Influx: InfluxConfig{
				Precision:     PrecisionMS,
				BatchSize:     5000,
				FlushInterval: Duration(time.Second),
				Gzip:          true,
				Timeout:       Duration(10 * time.Second),
				RetryInitial:  Duration(time.Second),
				RetryMax:      Duration(time.Minute),
				// DeadLetterMaxBytes: the influx package's default (16MiB).
				DeadLetterMaxBytes: 16 << 20,
				Queue: InfluxQueueConfig{
					MaxBytes:     1 << 30,
					SegmentBytes: 16 << 20,
					FullPolicy:   FullPolicyDropOldest,
				},
			},
			Query: defaultStorageQuery(),
		},
		Alerts: AlertsConfig{
			EvalInterval:   Duration(time.Second),
			GroupBy:        []string{"alertname", "site"},
			GroupWait:      Duration(10 * time.Second),
			GroupInterval:  Duration(time.Minute),
			RepeatInterval: Duration(time.Hour),
			Canary: CanaryConfig{
				Interval: Duration(time.Minute),
				Timeout:  Duration(30 * time.Second),
			},
			Flap: FlapConfig{Count: 3, Window: Duration(10 * time.Minute), Notify: "transitions"},
		},
		Notify: NotifyConfig{MQTT: NotifyMQTTConfig{Enabled: true}},
		Auth: AuthConfig{
			SessionIdle: Duration(30 * time.Minute),
			SessionMax:  Duration(12 * time.Hour),
			TokenTTL:    Duration(90 * 24 * time.Hour),
		},
		Ward:    defaultWard(),
		Privacy: defaultPrivacy(),
		Map:     defaultMap(), Plans: defaultPlans(),
	}
}

// DefaultSource returns an ingest source with its defaults; list items in a file start from it.
func DefaultSource() SourceConfig {
	return SourceConfig{
		Topics:       []string{"city/#"},
		QoS:          1,
		MaxInflight:  256,
		ReconnectMin: Duration(time.Second),
		ReconnectMax: Duration(30 * time.Second),
	}
}

// DefaultCamera returns a camera with its defaults; list items in a file start from it.
func DefaultCamera() CameraConfig {
	return CameraConfig{
		Transport:    TransportAuto,
		StallTimeout: Duration(3 * time.Second),
		ReconnectMin: Duration(time.Second),
		ReconnectMax: Duration(30 * time.Second),
		Jitter:       0.2,
		// Health thresholds: the cameras package's defaults (DefaultKeyframeTimeout, ...).
		KeyframeTimeout: Duration(10 * time.Second),
		MinFPSRatio:     0.5,
		MaxLossRatio:    0.05,
		AnalysisFPS:     2,
		ClipPre:         Duration(5 * time.Second),
		ClipPost:        Duration(10 * time.Second),
	}
}

// DefaultReceiver returns a notification receiver with its defaults; list items in a file start from it.
func DefaultReceiver() ReceiverConfig {
	return ReceiverConfig{
		Format:         NotifyFormatCitywatch,
		ContentType:    DefaultReceiverContentType,
		Timeout:        Duration(10 * time.Second),
		MaxConcurrency: 4,
	}
}

// DefaultRule returns a mapping rule with its defaults.
func DefaultRule() RuleConfig { return RuleConfig{Format: FormatAuto, Precision: PrecisionNS} }

// DefaultScale returns the identity scale.
func DefaultScale() ScaleConfig { return ScaleConfig{Factor: 1} }

// elemDefault returns the default of a list item or map value of type t (the zero value for most types).
func elemDefault(t reflect.Type) reflect.Value {
	switch t {
	case reflect.TypeOf(SourceConfig{}):
		return reflect.ValueOf(DefaultSource())
	case reflect.TypeOf(RuleConfig{}):
		return reflect.ValueOf(DefaultRule())
	case reflect.TypeOf(CameraConfig{}):
		return reflect.ValueOf(DefaultCamera())
	case reflect.TypeOf(ReceiverConfig{}):
		return reflect.ValueOf(DefaultReceiver())
	case reflect.TypeOf(ScaleConfig{}):
		return reflect.ValueOf(DefaultScale())
	case reflect.TypeOf(RemoteWriteConfig{}):
		return reflect.ValueOf(DefaultRemoteWrite())
	case reflect.TypeOf(WardSiteConfig{}):
		return reflect.ValueOf(DefaultWardSite())
	}
	return reflect.New(t).Elem()
}

// setDerivedDefaults fills the defaults that depend on other keys. It only fills what is unset, so it is
// idempotent.
func (c *Config) setDerivedDefaults(hostname string) {
	if c.Broker.Enabled == nil {
		on := len(c.Ingest.Sources) == 0
		c.Broker.Enabled = &on
	}
	for i := range c.Broker.Users {
		if c.Broker.Users[i].Publish == nil {
			c.Broker.Users[i].Publish = []string{DefaultUserPublish}
		}
	}
	for i := range c.Ingest.Sources {
		s := &c.Ingest.Sources[i]
		if s.ClientID == "" && s.Name != "" {
			s.ClientID = "citywatch-" + s.Name + "-" + clientIDHost(hostname)
		}
	}
	for i := range c.Ingest.Rules {
		r := &c.Ingest.Rules[i]
		if r.DeviceLabels == nil {
			if t, err := ParseTopicTemplate(r.Topic); err == nil {
				r.DeviceLabels = t.DeviceLabels()
			}
		}
	}
	for i := range c.Cameras {
		if c.Cameras[i].Name == "" {
			c.Cameras[i].Name = c.Cameras[i].ID
		}
	}
	if c.Storage.Influx.Queue.Dir == "" && c.DataDir != "" {
		c.Storage.Influx.Queue.Dir = filepath.Join(c.DataDir, "influx-queue")
	}
	c.setRemoteWriteDefaults()
	if c.Alerts.ExternalURL == "" {
		c.Alerts.ExternalURL = defaultExternalURL(c.HTTP, hostname)
	}
	if n := &c.Notify; n.DefaultReceiver == "" && len(n.Routes) == 0 && len(n.Receivers) > 0 {
		n.DefaultReceiver = n.Receivers[0].Name
	}
}

// defaultExternalURL is the URL of the HTTP listener: "http(s)://host:port", with the hostname standing in for
// an empty or unspecified listen host, and "" when the port is 0 (not known until bound) or listen is invalid.
func defaultExternalURL(h HTTPConfig, hostname string) string {
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil || port == "" || port == "0" {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = hostname
	}
	if host == "" {
		host = "localhost"
	}
	scheme := "http"
	if h.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// clientIDHost makes a hostname safe and short enough for an MQTT client id.
func clientIDHost(h string) string {
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" {
		s = "localhost"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
