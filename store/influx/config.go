package influx

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"citywatch/store/forward"
)

// Queue-full policies for Config.QueueFullPolicy.
const (
	// PolicyDropOldest deletes the oldest queued samples to make room, counting each one.
	PolicyDropOldest = forward.PolicyDropOldest
	// PolicyBlock makes Append wait for space (or its context).
	PolicyBlock = forward.PolicyBlock
)

// Config configures the InfluxDB backend. Zero values take the documented defaults.
type Config struct {
	// URL is the InfluxDB base URL, e.g. "https://influx.city.example:8086". Required. It must not carry
	// credentials: use Token.
	URL string
	// Org is the InfluxDB 2 organization. InfluxDB 1.8 ignores it. It defaults to "".
	Org string
	// Bucket is the InfluxDB 2 bucket, or "database/retention-policy" for InfluxDB 1.8. Required.
	Bucket string
	// Token is the API token ("user:password" for InfluxDB 1.8 with authentication). It is a secret: never
	// logged or reported. It defaults to "" (no authentication).
	Token string
	// Precision of the timestamps written: "ns", "us", "ms" or "s". Samples carry milliseconds, so finer
	// precisions add nothing. It defaults to "ms".
	Precision string
	// Gzip compresses write requests. It defaults to false.
	Gzip bool
	// Timeout bounds one write request. It defaults to 10s.
	Timeout time.Duration
	// ReplayRate caps the samples per second sent while the queue holds a backlog (replay after an outage),
	// to spare a central InfluxDB that many edges reconnect to at once. 0 means no cap. It defaults to 0.
	ReplayRate float64

	// Settings are the batch, retry, edge and queue fields every forwarder shares. Here BatchSize defaults
	// to 5000, RetryInitial to 1s and RetryMax to 1m; Edge is written as tag "edge" on every sample; the
	// dead-letter file in QueueDir is dead-letter.lp.
	forward.Settings

	// Site is the site identity, written as tag "site" on every sample when set. It defaults to "".
	Site string
	// Tags are further static tags written on every sample. A sample label with the same name as a static
	// tag (or edge/site) and a different value is kept as "exported_<name>", like Prometheus does with
	// honor_labels: false. It defaults to none.
	Tags map[string]string
}

func (c *Config) applyDefaults() error {
	if c.Precision == "" {
		c.Precision = "ms"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if err := c.Settings.ApplyDefaults(forward.Defaults{
		BatchSize:    5000,
		RetryInitial: time.Second,
		RetryMax:     time.Minute,
	}); err != nil {
		return fmt.Errorf("influx: %w", err)
	}
	return c.validate()
}

func (c *Config) validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("influx: url is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return errors.New("influx: url must be an http(s) URL with a host")
	case u.User != nil:
		return errors.New("influx: url must not contain credentials; use token")
	case c.Bucket == "":
		return errors.New("influx: bucket is required")
	case c.FlushInterval < 0:
		return fmt.Errorf("influx: flush_interval must be > 0, got %s", c.FlushInterval)
	case c.Timeout < 0:
		return fmt.Errorf("influx: timeout must be > 0, got %s", c.Timeout)
	case c.ReplayRate < 0:
		return fmt.Errorf("influx: replay_rate must be >= 0, got %g", c.ReplayRate)
	}
	if err := c.Settings.Validate(); err != nil {
		return fmt.Errorf("influx: %w", err)
	}
	if _, err := parsePrecision(c.Precision); err != nil {
		return err
	}
	for k, v := range c.staticTags() {
		if k == "" || v == "" {
			return fmt.Errorf("influx: static tag %q=%q: name and value must not be empty", k, v)
		}
	}
	return nil
}

func (c *Config) staticTags() map[string]string {
	m := make(map[string]string, len(c.Tags)+2)
	for k, v := range c.Tags {
		m[k] = v
	}
	m["edge"] = c.Edge
	if c.Site != "" {
		m["site"] = c.Site
	}
	return m
}

// precisions maps config values to encoder precisions; the byte is stored in each queue record so that a
// precision change never reinterprets queued timestamps.
var precisions = map[string]lineprotocol.Precision{
	"ns": lineprotocol.Nanosecond,
	"us": lineprotocol.Microsecond,
	"ms": lineprotocol.Millisecond,
	"s":  lineprotocol.Second,
}

func parsePrecision(s string) (lineprotocol.Precision, error) {
	p, ok := precisions[s]
	if !ok {
		return 0, fmt.Errorf("influx: precision must be one of ns, us, ms, s; got %q", s)
	}
	return p, nil
}

// forward is the durable forwarder's part of c.
func (c *Config) forward(deliver forward.DeliverFunc) forward.Config {
	return forward.Config{
		Settings:      c.Settings,
		MaxBatchBytes: maxBatchBytes,
		ReplayRate:    c.ReplayRate,
		Receiver:      "InfluxDB",
		Deliver:       deliver,
	}
}
