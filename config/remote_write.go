package config

import (
	"net/textproto"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Remote-write protobuf messages (storage.remote_write[].protobuf_message), named as in Prometheus.
const (
	RemoteWriteMessageV1 = "prometheus.WriteRequest"
	RemoteWriteMessageV2 = "io.prometheus.write.v2.Request"
)

// Write-relabel actions (storage.remote_write[].write_relabel[].action).
const (
	RelabelKeep = "keep"
	RelabelDrop = "drop"
)

// RemoteWriteConfig is one Prometheus remote-write endpoint (VictoriaMetrics, Mimir, Thanos Receive, Cortex,
// Prometheus with --web.enable-remote-write-receiver) that every sample is forwarded to through its own
// durable on-disk queue.
type RemoteWriteConfig struct {
	// Name identifies the endpoint: the "endpoint" label of citywatch_remote_write_* metrics and the queue
	// directory. Required, unique, [a-z0-9_-]+.
	Name string `yaml:"name"`
	// URL is the receiver's write URL, e.g. "http://victoriametrics:8428/api/v1/write". Required.
	URL string `yaml:"url"`
	// ProtobufMessage is the protocol: prometheus.WriteRequest (remote write 1.0, every receiver) or
	// io.prometheus.write.v2.Request (2.0; a receiver that answers 415, or 2xx without the 2.0 written-samples
	// headers, is written 1.0 instead). It defaults to "prometheus.WriteRequest".
	ProtobufMessage string `yaml:"protobuf_message"`
	// Username sets HTTP basic authentication with Password. It defaults to "" (none).
	Username string `yaml:"username"`
	// Password is the basic-auth password. It defaults to "".
	Password Secret `yaml:"password"`
	// PasswordFile is a file holding the password. Parse reads it into Password.
	PasswordFile string `yaml:"password_file"`
	// BearerToken is sent as "Authorization: Bearer <token>". It defaults to "" (none).
	BearerToken Secret `yaml:"bearer_token"`
	// BearerTokenFile is a file holding the bearer token. Parse reads it into BearerToken.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// Headers are extra HTTP headers of every request, such as X-Scope-OrgID for a multi-tenant Mimir or
	// Cortex. Not for secrets: use password or bearer_token. It defaults to none.
	Headers map[string]string `yaml:"headers"`
	// TLS configures https URLs. It defaults to the system CAs and no client certificate.
	TLS ClientTLSConfig `yaml:"tls"`
	// Timeout bounds one write request. It defaults to 30s.
	Timeout Duration `yaml:"timeout"`
	// BatchSize is the most samples per write request. It defaults to 2000.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a sample waits for its batch to fill, and the queue's fsync interval. It
	// defaults to 1s.
	FlushInterval Duration `yaml:"flush_interval"`
	// MinBackoff is the first delay after a failed write; it doubles per failure, with jitter. It defaults to
	// 500ms.
	MinBackoff Duration `yaml:"min_backoff"`
	// MaxBackoff caps the delay between retries (a server's Retry-After is honoured beyond it, up to 1h). It
	// defaults to 30s.
	MaxBackoff Duration `yaml:"max_backoff"`
	// ExternalLabels are added to every series that lacks them, besides edge (edge.name, else the host name)
	// and site (edge.site when set). It defaults to none.
	ExternalLabels map[string]string `yaml:"external_labels"`
	// WriteRelabel keeps or drops samples by metric name before they are queued, in order. It defaults to none
	// (forward everything).
	WriteRelabel []RelabelConfig `yaml:"write_relabel"`
	// Queue is the endpoint's on-disk store-and-forward queue.
	Queue RemoteWriteQueueConfig `yaml:"queue"`
	// DeadLetterMaxBytes bounds the file of samples the receiver refused as invalid (in the queue directory);
	// when full it is rotated once, replacing the previous one. It defaults to 16MiB.
	DeadLetterMaxBytes ByteSize `yaml:"dead_letter_max_bytes"`
}

// RelabelConfig is a write_relabel rule on the metric name.
type RelabelConfig struct {
	// Action is keep (forward only matching names) or drop (forward no matching name). Required.
	Action string `yaml:"action"`
	// Regex is an RE2 expression matched against the whole metric name. Required.
	Regex string `yaml:"regex"`
}

// RemoteWriteQueueConfig is the durable queue in front of one remote-write endpoint.
type RemoteWriteQueueConfig struct {
	// Dir holds the queue segments and dead-letter.prom. It defaults to "<data_dir>/remote-write/<name>".
	Dir string `yaml:"dir"`
	// MaxBytes caps the queue on disk. It defaults to 1GiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// SegmentBytes is the size of one queue segment file. It defaults to 16MiB.
	SegmentBytes ByteSize `yaml:"segment_bytes"`
	// FullPolicy is drop_oldest (count and drop the oldest segment) or block (apply backpressure to
	// ingestion). It defaults to "drop_oldest".
	FullPolicy string `yaml:"full_policy"`
}

var httpTokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// reservedRemoteWriteHeaders are set by the remote-write client itself.
var reservedRemoteWriteHeaders = map[string]bool{
	"Authorization": true, "Content-Type": true, "Content-Encoding": true, "Content-Length": true,
	"Host": true, "User-Agent": true, "X-Prometheus-Remote-Write-Version": true, "Retry-Attempt": true,
}

// DefaultRemoteWrite returns a remote-write endpoint with its defaults; list items in a file start from it.
func DefaultRemoteWrite() RemoteWriteConfig {
	return RemoteWriteConfig{
		ProtobufMessage: RemoteWriteMessageV1,
		Timeout:         Duration(30 * time.Second),
		BatchSize:       2000,
		FlushInterval:   Duration(time.Second),
		MinBackoff:      Duration(500 * time.Millisecond),
		MaxBackoff:      Duration(30 * time.Second),
		// DeadLetterMaxBytes: the forwarders' default (16MiB), as storage.influx.dead_letter_max_bytes.
		DeadLetterMaxBytes: 16 << 20,
		Queue: RemoteWriteQueueConfig{
			MaxBytes:     1 << 30,
			SegmentBytes: 16 << 20,
			FullPolicy:   FullPolicyDropOldest,
		},
	}
}

// setRemoteWriteDefaults fills each endpoint's queue directory.
func (c *Config) setRemoteWriteDefaults() {
	for i := range c.Storage.RemoteWrite {
		rw := &c.Storage.RemoteWrite[i]
		if rw.Queue.Dir == "" && c.DataDir != "" && rw.Name != "" {
			rw.Queue.Dir = filepath.Join(c.DataDir, "remote-write", rw.Name)
		}
	}
}

// readRemoteWriteSecrets reads the endpoints' *_file secrets with read (readSecretFiles' helper).
func (c *Config) readRemoteWriteSecrets(read func(path string, dst *Secret, file string)) {
	for i := range c.Storage.RemoteWrite {
		rw := &c.Storage.RemoteWrite[i]
		p := indexPath("storage.remote_write", i)
		read(p+".password", &rw.Password, rw.PasswordFile)
		read(p+".bearer_token", &rw.BearerToken, rw.BearerTokenFile)
	}
}

func (c *Config) validateRemoteWrite(v validator) {
	names := map[string]int{}
	dirs := map[string]int{}
	for i := range c.Storage.RemoteWrite {
		rw := &c.Storage.RemoteWrite[i]
		p := indexPath("storage.remote_write", i)
		sourceNames.check(v, names, "storage.remote_write", i, rw.Name)
		if rw.URL == "" {
			v.add(p+".url", "is required")
		} else if u, err := url.Parse(rw.URL); err != nil {
			v.add(p+".url", "invalid URL %s", quoteURL(rw.URL))
		} else if u.User != nil || queryHasCredentials(u.Query()) {
			v.add(p+".url", "must not contain credentials; use username/password or bearer_token (or their *_file)")
		} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(p+".url", `must be an http or https URL like "http://victoriametrics:8428/api/v1/write"; got %s`, quote(rw.URL))
		}
		v.oneOf(p+".protobuf_message", rw.ProtobufMessage, RemoteWriteMessageV1, RemoteWriteMessageV2)
		if rw.Password != "" && rw.Username == "" {
			v.add(p+".username", "is required when a password is set")
		}
		if (rw.Username != "" || rw.Password != "") && rw.BearerToken != "" {
			v.add(p+".bearer_token", "set username/password or bearer_token, not both")
		}
		v.text(p+".username", rw.Username)
		for _, k := range sortedKeys(rw.Headers) {
			if !httpTokenRE.MatchString(k) || reservedRemoteWriteHeaders[textproto.CanonicalMIMEHeaderKey(k)] {
				v.add(joinPath(p+".headers", k), "must be an HTTP header name other than %s; got %s", strings.Join(sortedKeys(reservedRemoteWriteHeaders), ", "), quote(k))
			}
			v.text(joinPath(p+".headers", k), rw.Headers[k])
		}
		v.clientTLS(p+".tls", rw.TLS)
		v.positive(p+".timeout", rw.Timeout)
		if rw.BatchSize < 1 || rw.BatchSize > maxBatchSize {
			v.add(p+".batch_size", "must be between 1 and %d; got %d", maxBatchSize, rw.BatchSize)
		}
		v.positive(p+".flush_interval", rw.FlushInterval)
		v.positive(p+".min_backoff", rw.MinBackoff)
		if rw.MaxBackoff < rw.MinBackoff {
			v.add(p+".max_backoff", "must be >= min_backoff (%s); got %s", rw.MinBackoff, quote(rw.MaxBackoff.String()))
		}
		for _, k := range sortedKeys(rw.ExternalLabels) {
			if !validLabelName(k) || k == "__name__" || rw.ExternalLabels[k] == "" {
				v.add(joinPath(p+".external_labels", k), "needs a valid label name and a non-empty value; got %s=%s", quote(k), quote(rw.ExternalLabels[k]))
			}
		}
		for j, r := range rw.WriteRelabel {
			rp := indexPath(p+".write_relabel", j)
			v.oneOf(rp+".action", r.Action, RelabelKeep, RelabelDrop)
			if r.Regex == "" {
				v.add(rp+".regex", "is required")
			} else if _, err := regexp.Compile(r.Regex); err != nil {
				v.add(rp+".regex", "invalid regular expression %s: %v", quote(r.Regex), err)
			} else if _, err := regexp.Compile("^(?:" + r.Regex + ")$"); err != nil {
				v.add(rp+".regex", "invalid regular expression %s: %v", quote(r.Regex), err)
			}
		}
		q := &rw.Queue
		if q.MaxBytes <= 0 {
			v.add(p+".queue.max_bytes", "must be > 0; got %s", quote(q.MaxBytes.String()))
		}
		if q.SegmentBytes < 4096 {
			v.add(p+".queue.segment_bytes", "must be >= 4KiB; got %s", quote(q.SegmentBytes.String()))
		} else if q.MaxBytes > 0 && 2*q.SegmentBytes > q.MaxBytes {
			v.add(p+".queue.segment_bytes", "must be <= half of max_bytes (%s); got %s", q.MaxBytes, quote(q.SegmentBytes.String()))
		}
		v.oneOf(p+".queue.full_policy", q.FullPolicy, FullPolicyDropOldest, FullPolicyBlock)
		if rw.DeadLetterMaxBytes <= 0 {
			v.add(p+".dead_letter_max_bytes", "must be > 0; got %s", quote(rw.DeadLetterMaxBytes.String()))
		}
		if q.Dir != "" {
			d := filepath.Clean(q.Dir)
			if j, dup := dirs[d]; dup {
				v.add(p+".queue.dir", "%s is also the queue of storage.remote_write[%d]; each endpoint needs its own", quote(q.Dir), j)
			}
			dirs[d] = i
			if in := c.Storage.Influx; in.Enabled() && in.Queue.Dir != "" && filepath.Clean(in.Queue.Dir) == d {
				v.add(p+".queue.dir", "%s is also storage.influx.queue.dir", quote(q.Dir))
			}
		}
	}
}
