package remotewrite

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"citywatch/store/forward"
)

// Protobuf messages for Config.ProtobufMessage, named as in Prometheus' remote_write configuration.
const (
	// MessageV1 is remote write 1.0 (prometheus.WriteRequest), which every receiver accepts.
	MessageV1 = "prometheus.WriteRequest"
	// MessageV2 is remote write 2.0 (io.prometheus.write.v2.Request, with a symbol table). A receiver that
	// answers 415 Unsupported Media Type, or 2xx without the X-Prometheus-Remote-Write-Samples-Written header
	// every 2.0 receiver sends (a 1.0 receiver reads a 2.0 body as an empty request), is written 1.0 from then
	// on, starting with the same batch.
	MessageV2 = "io.prometheus.write.v2.Request"
)

// Queue-full policies for Config.QueueFullPolicy.
const (
	// PolicyDropOldest deletes the oldest queued samples to make room, counting each one.
	PolicyDropOldest = forward.PolicyDropOldest
	// PolicyBlock makes Append wait for space (or its context).
	PolicyBlock = forward.PolicyBlock
)

// Relabel actions for RelabelRule.Action.
const (
	// ActionKeep forwards only samples whose metric name matches.
	ActionKeep = "keep"
	// ActionDrop forwards no sample whose metric name matches.
	ActionDrop = "drop"
)

// RelabelRule keeps or drops samples by metric name before they are queued, like a Prometheus
// write_relabel_configs entry with source_labels [__name__].
type RelabelRule struct {
	// Action is "keep" or "drop".
	Action string
	// Regex is matched against the whole metric name (anchored at both ends, RE2 syntax).
	Regex string
}

// Config configures one remote-write endpoint. Zero values take the documented defaults.
type Config struct {
	// Name identifies the endpoint in logs and as the "endpoint" label of the citywatch_remote_write_*
	// metrics. Required; [a-z0-9_-]+.
	Name string
	// URL is the receiver's write URL, e.g. "http://victoriametrics:8428/api/v1/write". Required. It must
	// not carry credentials: use BasicAuth* or BearerToken.
	URL string
	// ProtobufMessage is MessageV1 or MessageV2. It defaults to MessageV1.
	ProtobufMessage string
	// BasicAuthUser and BasicAuthPassword set HTTP basic authentication. They default to "" (none).
	BasicAuthUser, BasicAuthPassword string
	// BearerToken is sent as "Authorization: Bearer <token>". It defaults to "" (none). It is a secret: never
	// logged or reported.
	BearerToken string
	// Headers are extra HTTP headers of every request (e.g. X-Scope-OrgID for Mimir). They default to none.
	Headers map[string]string
	// TLSCAFile, TLSCertFile, TLSKeyFile and TLSServerName configure TLS for https URLs: CAs to trust
	// instead of the system roots, a client certificate and its key (together), the name to verify. They
	// default to "" (system roots, no client certificate, the URL's host).
	TLSCAFile, TLSCertFile, TLSKeyFile, TLSServerName string
	// TLSInsecureSkipVerify turns server certificate verification off (testing only). It defaults to false.
	TLSInsecureSkipVerify bool
	// Timeout bounds one write request. It defaults to 30s.
	Timeout time.Duration

	// Settings are the batch, retry, edge and queue fields every forwarder shares. Here BatchSize defaults
	// to 2000, RetryInitial to 500ms and RetryMax to 30s; Edge is added as label "edge" to every series that
	// has no such label (the semantics of Prometheus' external_labels); the dead-letter file in QueueDir is
	// dead-letter.prom.
	forward.Settings

	// Site is added as label "site" to series without one when set. It defaults to "".
	Site string
	// ExternalLabels are further labels added to series that lack them. It defaults to none.
	ExternalLabels map[string]string
	// Relabel rules are applied in order; a sample dropped by one is not forwarded (and counted). It
	// defaults to none (forward everything).
	Relabel []RelabelRule
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (c *Config) applyDefaults() error {
	if c.ProtobufMessage == "" {
		c.ProtobufMessage = MessageV1
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if err := c.Settings.ApplyDefaults(forward.Defaults{
		BatchSize:    2000,
		RetryInitial: 500 * time.Millisecond,
		RetryMax:     30 * time.Second,
	}); err != nil {
		return fmt.Errorf("remotewrite: %w", err)
	}
	return c.validate()
}

func (c *Config) validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case !nameRE.MatchString(c.Name):
		return fmt.Errorf("remotewrite: name must match [a-z0-9_-]+, got %q", c.Name)
	case c.URL == "":
		return errors.New("remotewrite: url is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return errors.New("remotewrite: url must be an http(s) URL with a host")
	case u.User != nil:
		return errors.New("remotewrite: url must not contain credentials; use basic auth or a bearer token")
	case c.ProtobufMessage != MessageV1 && c.ProtobufMessage != MessageV2:
		return fmt.Errorf("remotewrite: protobuf_message must be %q or %q, got %q", MessageV1, MessageV2, c.ProtobufMessage)
	case c.BearerToken != "" && (c.BasicAuthUser != "" || c.BasicAuthPassword != ""):
		return errors.New("remotewrite: set basic auth or a bearer token, not both")
	case c.FlushInterval < 0 || c.Timeout < 0:
		return fmt.Errorf("remotewrite: flush_interval (%s) and timeout (%s) must be > 0", c.FlushInterval, c.Timeout)
	}
	if err := c.Settings.Validate(); err != nil {
		return fmt.Errorf("remotewrite: %w", err)
	}
	for k, v := range c.externalLabels() {
		if !validLabelName(k) || v == "" {
			return fmt.Errorf("remotewrite: external label %q=%q: need a valid name and a non-empty value", k, v)
		}
	}
	if _, err := compileRelabel(c.Relabel); err != nil {
		return err
	}
	return nil
}

// externalLabels are the labels added to series that lack them: ExternalLabels, edge and site.
func (c *Config) externalLabels() map[string]string {
	m := make(map[string]string, len(c.ExternalLabels)+2)
	for k, v := range c.ExternalLabels {
		m[k] = v
	}
	m["edge"] = c.Edge
	if c.Site != "" {
		m["site"] = c.Site
	}
	return m
}

func validLabelName(s string) bool {
	if s == "" || len(s) > 1024 || s == "__name__" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// forward is the durable forwarder's part of c.
func (c *Config) forward(deliver forward.DeliverFunc) forward.Config {
	return forward.Config{
		Settings:      c.Settings,
		MaxBatchBytes: maxBatchBytes,
		Receiver:      "remote",
		Deliver:       deliver,
	}
}
