// Package config is the citywatch configuration: one YAML file with snake_case keys, decoded strictly (unknown
// keys and wrong types are errors with file:line), ${ENV} expansion in values, secrets that never print, and
// full validation at load. Every problem of a file is reported at once, one per line, as
// "file:line: key.path: message".
//
// Defaults live in one place (defaults.go). A few defaults depend on other keys (broker.enabled, a source's
// client_id, a rule's device_labels, the InfluxDB queue directory); Parse fills them in, and Complete does the
// same for a Config built in code.
//
// Relative paths of files (every *_file and *_files key, and alerts.rule_files) are relative to the directory of
// the configuration file, as in Prometheus. Directories of state (data_dir, storage.influx.queue.dir) are relative to the working directory.
package config

import "strings"

// Config is the whole citywatch configuration.
type Config struct {
	// DataDir holds the TSDB, the InfluxDB queue and the metadata database. It defaults to "data".
	DataDir string `yaml:"data_dir"`
	// Edge names this collector.
	Edge EdgeConfig `yaml:"edge"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// HTTP configures the dashboard/API listener.
	HTTP HTTPConfig `yaml:"http"`
	// Broker configures the embedded MQTT broker.
	Broker BrokerConfig `yaml:"broker"`
	// Ingest configures MQTT ingestion: external brokers and topic mapping rules.
	Ingest IngestConfig `yaml:"ingest"`
	// Storage configures the embedded TSDB and the InfluxDB forwarder.
	Storage StorageConfig `yaml:"storage"`
	// Cameras are the RTSP cameras to monitor. It defaults to none.
	Cameras []CameraConfig `yaml:"cameras"`
	// Media configures the cameras' ring buffers and event clips.
	Media MediaConfig `yaml:"media"`
	// Alerts configures rule evaluation and notification grouping.
	Alerts AlertsConfig `yaml:"alerts"`
	// Notify configures notification receivers and routes.
	Notify NotifyConfig `yaml:"notify"`
	// Auth configures sessions, API tokens and the bootstrap admin token.
	Auth AuthConfig `yaml:"auth"`
	// Ward configures the quarantine ward: rounds per site, night hours, occupant signals (config/ward.go).
	Ward WardConfig `yaml:"ward"`
	// Privacy configures retention by purpose of ward occupants' personal data (see privacy.go).
	Privacy PrivacyConfig `yaml:"privacy"`
	// Sites, Map and Plans configure the Overview's city map and site plans (config/sites.go).
	Sites []SiteConfig `yaml:"sites"`
	Map   MapConfig    `yaml:"map"`
	Plans PlansConfig  `yaml:"plans"`
}

// EdgeConfig is the identity of this edge collector. Non-empty values are added as tags "edge" and "site" to
// samples forwarded to InfluxDB, so the centre can tell edges apart.
type EdgeConfig struct {
	// Name is the edge name. It defaults to "" (no tag).
	Name string `yaml:"name"`
	// Site is the site of the edge. It defaults to "" (no tag).
	Site string `yaml:"site"`
}

// Log levels and formats.
const (
	LogLevelDebug = "debug"
	LogLevelInfo  = "info"
	LogLevelWarn  = "warn"
	LogLevelError = "error"
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// LogConfig configures the process logger.
type LogConfig struct {
	// Level is debug, info, warn or error. It defaults to "info".
	Level string `yaml:"level"`
	// Format is text or json. It defaults to "text".
	Format string `yaml:"format"`
}

// HTTPConfig configures the HTTP listener (web UI, REST and Prometheus APIs).
type HTTPConfig struct {
	// Listen is the host:port to listen on. It defaults to "127.0.0.1:8080" (loopback only).
	Listen string `yaml:"listen"`
	// TLS enables HTTPS when both files are set.
	TLS TLSServerConfig `yaml:"tls"`
	// Limits bounds connections, slow requests, request bodies and live event streams.
	Limits HTTPLimitsConfig `yaml:"limits"`
	// Query is the budget of the Prometheus query API and the UI's charts: concurrency, samples, points,
	// step floor and timeout.
	Query HTTPQueryConfig `yaml:"query"`
}

// TLSServerConfig is a server certificate. Both files or neither must be set.
type TLSServerConfig struct {
	// CertFile is a PEM certificate (chain). It defaults to "" (no TLS).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile. It defaults to "".
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLSServerConfig) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// BrokerConfig configures the embedded MQTT broker (mochi-mqtt).
type BrokerConfig struct {
	// Enabled runs the embedded broker. It defaults to true when ingest.sources is empty and to false otherwise;
	// Parse and Complete set it, so after them it is never nil. Use Config.BrokerEnabled to read it.
	Enabled *bool `yaml:"enabled"`
	// Listen is the MQTT TCP listener host:port; "" disables it. It defaults to "127.0.0.1:1883".
	Listen string `yaml:"listen"`
	// WebsocketListen is the MQTT-over-WebSocket listener host:port; "" disables it. It defaults to "".
	WebsocketListen string `yaml:"websocket_listen"`
	// TLS is the MQTT-over-TLS listener, enabled when listen, cert_file and key_file are set.
	TLS BrokerTLSConfig `yaml:"tls"`
	// AllowAnonymous lets clients connect without a username. It defaults to false.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// MaxMessageBytes is the largest MQTT packet accepted. It defaults to 256KiB.
	MaxMessageBytes ByteSize `yaml:"max_message_bytes"`
	// Users are the device accounts. It defaults to none.
	Users []BrokerUser `yaml:"users"`
}

// BrokerTLSConfig is the broker's MQTT-over-TLS listener.
type BrokerTLSConfig struct {
	// Listen is the host:port of the TLS listener; "" disables it. It defaults to "".
	Listen string `yaml:"listen"`
	// CertFile is the PEM server certificate. It defaults to "".
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key. It defaults to "".
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, when set, requires and verifies client certificates signed by these CAs. It defaults to "".
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether the TLS listener is configured.
func (t BrokerTLSConfig) Enabled() bool { return t.Listen != "" }

// DefaultUserPublish is the publish ACL of a broker user that sets no publish key.
const DefaultUserPublish = "city/#"

// BrokerUser is a device account of the embedded broker. Exactly one of password_hash, password_hash_file,
// password and password_file is set.
type BrokerUser struct {
	// Username is the MQTT username. Required, unique, without "+", "#" or "/".
	Username string `yaml:"username"`
	// PasswordHash is a bcrypt hash ("$2a$10$..."); a Secret because a hash can be attacked offline.
	PasswordHash Secret `yaml:"password_hash"`
	// PasswordHashFile is a file holding the bcrypt hash. Parse reads it into PasswordHash.
	PasswordHashFile string `yaml:"password_hash_file"`
	// Password is a plain password, hashed by the broker at start.
	Password Secret `yaml:"password"`
	// PasswordFile is a file holding the plain password. Parse reads it into Password.
	PasswordFile string `yaml:"password_file"`
	// Publish are the topic filters this user may publish to; "{username}" is replaced by the username.
	// It defaults to ["city/#"] when the key is absent; an explicit empty list allows no publishing.
	Publish []string `yaml:"publish"`
	// Subscribe are the topic filters this user may subscribe to, with "{username}" replaced. It defaults to
	// none.
	Subscribe []string `yaml:"subscribe"`
}

// PublishFilters returns the publish ACL with "{username}" replaced by the username.
func (u BrokerUser) PublishFilters() []string { return u.expand(u.Publish) }

// SubscribeFilters returns the subscribe ACL with "{username}" replaced by the username.
func (u BrokerUser) SubscribeFilters() []string { return u.expand(u.Subscribe) }

func (u BrokerUser) expand(filters []string) []string {
	out := make([]string, len(filters))
	for i, f := range filters {
		out[i] = strings.ReplaceAll(f, "{username}", u.Username)
	}
	return out
}

// IngestConfig configures MQTT ingestion.
type IngestConfig struct {
	// MaxPayloadBytes is the largest payload decoded; larger ones are rejected (reason too_large). It defaults
	// to 64KiB.
	MaxPayloadBytes ByteSize `yaml:"max_payload_bytes"`
	// DeadLetterSize is how many rejected messages are kept for /api/ingest/rejected; 0 keeps none. It defaults
	// to 1000.
	DeadLetterSize int `yaml:"dead_letter_size"`
	// MaxFutureSkew is how far ahead of the receive time a sample may be stamped (device clocks run fast);
	// later samples are rejected (reason ts_future), here and by the embedded TSDB for every other producer. It
	// defaults to 10m.
	MaxFutureSkew Duration `yaml:"max_future_skew"`
	// MaxSeriesPerDevice bounds the series one device may have; samples of new series beyond it are rejected
	// (reason series_limit) while its existing series keep flowing. It defaults to 200.
	MaxSeriesPerDevice int `yaml:"max_series_per_device"`
	// MaxFieldsPerMessage bounds the numeric fields (samples) of one message; a message with more is rejected
	// whole (reason too_many_fields). It defaults to 1000.
	MaxFieldsPerMessage int `yaml:"max_fields_per_message"`
	// MaxDevices bounds the device registry (/api/devices, device_last_seen_seconds); when it is full the
	// longest-silent device is evicted for each new one, counted and logged. It defaults to 100000.
	MaxDevices int `yaml:"max_devices"`
	// DeviceSaveInterval is how often the device registry's changes are saved to the metadata database (it is
	// restored at start; a graceful stop saves everything). It defaults to 1m.
	DeviceSaveInterval Duration `yaml:"device_save_interval"`
	// DefaultMapping applies the default city/{district}/{site}/{device}[/{metric}] mapping to topics that no
	// rule matches. It defaults to true.
	DefaultMapping bool `yaml:"default_mapping"`
	// Sources are external MQTT brokers to subscribe to. It defaults to none.
	Sources []SourceConfig `yaml:"sources"`
	// Rules map topics to samples, tried in order before the default mapping. It defaults to none.
	Rules []RuleConfig `yaml:"rules"`
}

// SourceConfig is an external MQTT broker that citywatch subscribes to (paho client).
type SourceConfig struct {
	// Name identifies the source in logs, metrics and the API. Required, unique, [a-z0-9_-]+.
	Name string `yaml:"name"`
	// URL is the broker, scheme tcp, mqtt, ssl, tls, mqtts, ws or wss. Required. It must not hold credentials.
	URL string `yaml:"url"`
	// ClientID is the MQTT client id. It defaults to "citywatch-<name>-<hostname>", stable across restarts so
	// the broker keeps the QoS 1 session.
	ClientID string `yaml:"client_id"`
	// Username is the MQTT username. It defaults to "".
	Username string `yaml:"username"`
	// Password is the MQTT password. It defaults to "".
	Password Secret `yaml:"password"`
	// PasswordFile is a file holding the password. Parse reads it into Password.
	PasswordFile string `yaml:"password_file"`
	// Topics are the topic filters subscribed to. It defaults to ["city/#"].
	Topics []string `yaml:"topics"`
	// SharedGroup, when set, subscribes "$share/<group>/<filter>" so several collectors split the load. It
	// defaults to "".
	SharedGroup string `yaml:"shared_group"`
	// QoS is the subscription QoS, 0 or 1. It defaults to 1.
	QoS int `yaml:"qos"`
	// MaxInflight bounds the messages received but not yet stored. It defaults to 256.
	MaxInflight int `yaml:"max_inflight"`
	// ReconnectMin is the first reconnect backoff. It defaults to 1s.
	ReconnectMin Duration `yaml:"reconnect_min"`
	// ReconnectMax caps the reconnect backoff. It defaults to 30s.
	ReconnectMax Duration `yaml:"reconnect_max"`
	// TLS configures the client side of ssl/tls/mqtts/wss URLs.
	TLS ClientTLSConfig `yaml:"tls"`
}

// Subscriptions returns the topic filters to subscribe, with the $share/<group>/ prefix when SharedGroup is set.
func (s SourceConfig) Subscriptions() []string {
	out := make([]string, len(s.Topics))
	for i, t := range s.Topics {
		if s.SharedGroup != "" {
			t = "$share/" + s.SharedGroup + "/" + t
		}
		out[i] = t
	}
	return out
}

// ClientTLSConfig configures a TLS client.
type ClientTLSConfig struct {
	// CAFile is a PEM bundle of CAs to trust instead of the system pool. It defaults to "".
	CAFile string `yaml:"ca_file"`
	// CertFile is a PEM client certificate. It defaults to "" (set together with key_file).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of CertFile. It defaults to "".
	KeyFile string `yaml:"key_file"`
	// InsecureSkipVerify disables server certificate verification (testing only). It defaults to false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Payload formats of a rule.
const (
	FormatAuto   = "auto"
	FormatJSON   = "json"
	FormatInflux = "influx"
	FormatNumber = "number"
	FormatSenML  = "senml"
)

// MetricLabel is the template label whose value is the metric name ("{metric}").
const MetricLabel = "metric"

// RuleConfig maps the topics matching a template to samples. The mapper uses it as is (mapping.Rule).
type RuleConfig struct {
	// Topic is the topic template: levels separated by "/", where "{label}" captures one level into a label,
	// "+" matches one level and "#" the rest (last level only); other levels match literally. Required.
	Topic string `yaml:"topic"`
	// Format is the payload format: auto, json, influx, number or senml. It defaults to "auto".
	Format string `yaml:"format"`
	// Precision is the unit of Influx line-protocol timestamps: ns, us, ms or s. It defaults to "ns".
	Precision string `yaml:"precision"`
	// Metric names the metric. For a plain number it is the metric name; for JSON and SenML it is prepended to
	// the field names with "_" ({"pm25":3} with metric "air" gives air_pm25); for line protocol it replaces the
	// measurement. It conflicts with a {metric} level in Topic. It defaults to "".
	Metric string `yaml:"metric"`
	// MetricPrefix is prepended to every metric name of the rule. It defaults to "".
	MetricPrefix string `yaml:"metric_prefix"`
	// Labels are static labels added to every sample. It defaults to none.
	Labels map[string]string `yaml:"labels"`
	// Include keeps only the fields whose name matches one of these patterns (path.Match syntax: "air_*"), the
	// name being the metric name without MetricPrefix. Empty keeps all. It defaults to none.
	Include []string `yaml:"include"`
	// Exclude lists payload fields dropped. It defaults to none.
	Exclude []string `yaml:"exclude"`
	// Scale converts units per field: value*factor + offset. It defaults to none.
	Scale map[string]ScaleConfig `yaml:"scale"`
	// DeviceLabels are the labels identifying the device. It defaults to the template's {labels} other than
	// {metric}.
	DeviceLabels []string `yaml:"device_labels"`
}

// ScaleConfig is a linear unit conversion: value*Factor + Offset.
type ScaleConfig struct {
	// Factor multiplies the value. It defaults to 1.
	Factor float64 `yaml:"factor"`
	// Offset is added after the factor. It defaults to 0.
	Offset float64 `yaml:"offset"`
}

// StorageConfig configures where samples go.
type StorageConfig struct {
	// TSDB is the embedded Prometheus TSDB (always on).
	TSDB TSDBConfig `yaml:"tsdb"`
	// Influx is the optional InfluxDB forwarder.
	Influx InfluxConfig `yaml:"influx"`
	// RemoteWrite are Prometheus remote-write endpoints every sample is forwarded to, each through its own
	// durable queue (config/remote_write.go). It defaults to none.
	RemoteWrite []RemoteWriteConfig `yaml:"remote_write"`
	// Query, when its url is set, makes this citywatch a centre that queries a remote engine instead of the
	// embedded TSDB (storage_query.go).
	Query StorageQueryConfig `yaml:"query"`
}

// TSDBConfig configures the embedded TSDB under <data_dir>/tsdb.
type TSDBConfig struct {
	// Retention is how long samples are kept. It defaults to 15d.
	Retention Duration `yaml:"retention"`
	// OutOfOrderWindow accepts samples this much older than the newest of their series; 0 disables it.
	// It defaults to 1h.
	OutOfOrderWindow Duration `yaml:"out_of_order_window"`
	// MaxHeadSeries bounds the series in the in-memory head block (about 2–4 KiB of memory each); samples of
	// new series beyond it are rejected (reason series_limit) while existing series keep flowing. It defaults
	// to 0: automatic, a quarter of the memory the process may use (GOMEMLIMIT, cgroup, machine) at 4 KiB per
	// series, between 10,000 and 2,000,000.
	MaxHeadSeries int `yaml:"max_head_series"`
}

// InfluxDB write precisions and queue full policies.
const (
	PrecisionNS          = "ns"
	PrecisionUS          = "us"
	PrecisionMS          = "ms"
	PrecisionS           = "s"
	FullPolicyDropOldest = "drop_oldest"
	FullPolicyBlock      = "block"
)

// InfluxConfig configures forwarding to InfluxDB through a durable on-disk queue. It is enabled when URL is set.
type InfluxConfig struct {
	// URL is the InfluxDB base URL (http or https). It defaults to "" (disabled).
	URL string `yaml:"url"`
	// Org is the InfluxDB organization. Required when URL is set.
	Org string `yaml:"org"`
	// Bucket is the bucket written to. Required when URL is set.
	Bucket string `yaml:"bucket"`
	// Token is the API token. It defaults to "".
	Token Secret `yaml:"token"`
	// TokenFile is a file holding the token. Parse reads it into Token.
	TokenFile string `yaml:"token_file"`
	// Precision is the timestamp precision written: ns, us, ms or s. It defaults to "ms".
	Precision string `yaml:"precision"`
	// BatchSize is the most samples per write request. It defaults to 5000.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a sample waits for its batch to fill. It defaults to 1s.
	FlushInterval Duration `yaml:"flush_interval"`
	// Gzip compresses write requests. It defaults to true.
	Gzip bool `yaml:"gzip"`
	// Timeout bounds one write request. It defaults to 10s.
	Timeout Duration `yaml:"timeout"`
	// ReplayRate caps samples per second while draining a backlog; 0 is unlimited. It defaults to 0.
	ReplayRate float64 `yaml:"replay_rate"`
	// RetryInitial is the first backoff after a failed write; it doubles per failure, with jitter. It defaults
	// to 1s.
	RetryInitial Duration `yaml:"retry_initial"`
	// RetryMax caps the retry backoff; >= retry_initial. It defaults to 1m.
	RetryMax Duration `yaml:"retry_max"`
	// Tags are static tags written on every sample, besides "edge" and "site" (edge.name, edge.site), which
	// they may not set. A sample label with the same name and another value is kept as "exported_<name>". It
	// defaults to none.
	Tags map[string]string `yaml:"tags"`
	// DeadLetterMaxBytes bounds the file of samples InfluxDB refused (<queue.dir>/dead-letter.lp); when full it
	// is rotated to dead-letter.lp.1, replacing the previous one. It defaults to 16MiB.
	DeadLetterMaxBytes ByteSize `yaml:"dead_letter_max_bytes"`
	// Queue is the on-disk store-and-forward queue.
	Queue InfluxQueueConfig `yaml:"queue"`
}

// Enabled reports whether the forwarder is configured.
func (c InfluxConfig) Enabled() bool { return c.URL != "" }

// InfluxQueueConfig is the durable queue in front of InfluxDB.
type InfluxQueueConfig struct {
	// Dir holds the queue segments. It defaults to "<data_dir>/influx-queue".
	Dir string `yaml:"dir"`
	// MaxBytes caps the queue on disk. It defaults to 1GiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// SegmentBytes is the size of one queue segment file. It defaults to 16MiB.
	SegmentBytes ByteSize `yaml:"segment_bytes"`
	// FullPolicy is what happens when the queue is full: drop_oldest (count and drop the oldest segment) or
	// block (apply backpressure to ingestion). It defaults to "drop_oldest".
	FullPolicy string `yaml:"full_policy"`
}

// BrokerEnabled reports whether the embedded broker runs: broker.enabled when set, otherwise true exactly when
// no external sources are configured.
func (c *Config) BrokerEnabled() bool {
	if c.Broker.Enabled != nil {
		return *c.Broker.Enabled
	}
	return len(c.Ingest.Sources) == 0
}

// Camera transports.
const (
	TransportAuto = "auto"
	TransportTCP  = "tcp"
	TransportUDP  = "udp"
)

// CameraConfig is one RTSP camera to monitor.
type CameraConfig struct {
	// ID identifies the camera in the API, in the camera label and as its clip directory; required, unique,
	// 1-64 characters of [A-Za-z0-9_.-], not "." or ".." (CameraIDRule).
	ID string `yaml:"id"`
	// Name is shown in the UI. It defaults to the ID.
	Name string `yaml:"name"`
	// Site is the site the camera belongs to (its site label and access scope); required.
	Site string `yaml:"site"`
	// Labels are added to the camera's metrics. They default to none.
	Labels map[string]string `yaml:"labels"`
	// URL is the stream URL, rtsp:// or rtsps://, without credentials; required.
	URL string `yaml:"url"`
	// Username authenticates to the camera. It defaults to "".
	Username string `yaml:"username"`
	// Password authenticates to the camera (or password_file). It is never shown or logged.
	Password Secret `yaml:"password"`
	// PasswordFile holds the password instead of password.
	PasswordFile string `yaml:"password_file"`
	// TLSFingerprint pins an rtsps:// camera's certificate: the hex SHA-256 of its leaf certificate (DER),
	// written "ab12..." or "AB:12:...". When set it replaces chain verification, for cameras with self-signed
	// certificates. It defaults to "" (the system roots verify).
	TLSFingerprint string `yaml:"tls_fingerprint"`
	// Transport is auto, tcp or udp. It defaults to "auto".
	Transport string `yaml:"transport"`
	// StallTimeout is how long a session may deliver no packets before the camera is stalled. It defaults to 3s.
	StallTimeout Duration `yaml:"stall_timeout"`
	// ReconnectMin and ReconnectMax bound the reconnect backoff. They default to 1s and 30s.
	ReconnectMin Duration `yaml:"reconnect_min"`
	ReconnectMax Duration `yaml:"reconnect_max"`
	// Jitter is the random fraction added to or taken from each backoff, >= 0 and < 1. It defaults to 0.2.
	Jitter float64 `yaml:"jitter"`
	// KeyframeTimeout is how long a session may deliver no decodable keyframe before the camera is degraded.
	// It defaults to 10s.
	KeyframeTimeout Duration `yaml:"keyframe_timeout"`
	// MinFPSRatio degrades a camera whose measured frame rate falls below this fraction of the announced
	// rate, > 0 and <= 1. It defaults to 0.5.
	MinFPSRatio float64 `yaml:"min_fps_ratio"`
	// MaxLossRatio degrades a camera whose RTP packet loss is above this ratio, > 0 and <= 1. It defaults to
	// 0.05.
	MaxLossRatio float64 `yaml:"max_loss_ratio"`
	// Zones are named polygons in relative coordinates (0..1, origin top left) in which motion is scored,
	// written "name: x1,y1 x2,y2 x3,y3 ...". They default to one zone "all" covering the picture.
	Zones []string `yaml:"zones"`
	// AnalysisFPS is how many frames per second motion and tamper analysis decodes. It defaults to 2.
	AnalysisFPS float64 `yaml:"analysis_fps"`
	// ClipPre and ClipPost are the seconds an event clip keeps before and after its event. They default to 5s
	// and 10s.
	ClipPre  Duration `yaml:"clip_pre"`
	ClipPost Duration `yaml:"clip_post"`
	// PrivacyMasks are polygons written like zones ("name: x1,y1 x2,y2 x3,y3 ...") painted black into the
	// camera's snapshots, clips and downloads, and ignored by motion and tamper analysis; the camera's live
	// view is refused to users without the video_unmasked permission. They default to none.
	PrivacyMasks []string `yaml:"privacy_masks"`
}

// MediaConfig configures video kept for the cameras: the in-memory ring buffer each camera's clips and live
// view start from, and the event clips on disk.
type MediaConfig struct {
	// RingSeconds is how much video each camera keeps in memory. It defaults to 30s.
	RingSeconds Duration `yaml:"ring_seconds"`
	// RingMaxBytes bounds each camera's ring buffer by memory (payload plus a fixed per-frame overhead), whatever
	// ring_seconds says: a camera sending far above its expected bitrate keeps fewer seconds, never more memory.
	// It defaults to 32MiB.
	RingMaxBytes ByteSize `yaml:"ring_max_bytes"`
	// ClipRetention is how long event clips are kept. It defaults to 7d.
	ClipRetention Duration `yaml:"clip_retention"`
	// ClipMaxBytes bounds the disk space of all clips; the oldest go first. It defaults to 2GiB.
	ClipMaxBytes ByteSize `yaml:"clip_max_bytes"`
}
