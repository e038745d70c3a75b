package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"

	"citywatch/config"
)

// Receiver formats: the names config accepts (config.NotifyFormats; TestKindsAreTheConfiguredFormats keeps
// the two lists equal).
const (
	// FormatCitywatch is citywatch's own JSON payload (the default).
	FormatCitywatch = "citywatch"
	// FormatAlertmanager is the Alertmanager v4 webhook payload, for tools that consume Alertmanager webhooks.
	FormatAlertmanager = "alertmanager"
	// FormatAlertmanagerAPI forwards alerts to an Alertmanager's POST /api/v2/alerts.
	FormatAlertmanagerAPI = "alertmanager_api"
	// FormatSlack is a Slack incoming-webhook message (text + blocks).
	FormatSlack = "slack"
	// FormatTeams is a Microsoft Teams message carrying an Adaptive Card (Teams Workflows webhooks).
	FormatTeams = "teams"
	// FormatTeamsMessageCard is the legacy Office 365 connector MessageCard.
	FormatTeamsMessageCard = "teams_messagecard"
	// FormatTelegram is a Telegram Bot API sendMessage call.
	FormatTelegram = "telegram"
	// FormatTemplate renders Receiver.Template (Go text/template) as the body.
	FormatTemplate = "template"
	// FormatMQTT publishes to the MQTT broker given in Deps.MQTT (Receiver.URL is unused).
	FormatMQTT = "mqtt"
	// FormatZalo is a Zalo Official Account API text message to one user (Receiver.ZaloUserID).
	FormatZalo = "zalo"
)

// MQTTReceiverName is the built-in receiver of Config.PublishMQTT (notify.mqtt.enabled) in the delivery log and
// the metrics. A configured receiver cannot take the name: "." is not allowed in receiver names.
const MQTTReceiverName = "notify.mqtt"

// Receiver is one notification destination.
type Receiver struct {
	// Name identifies the receiver in routes, the delivery log and metric labels (config.ValidReceiverName).
	Name string `yaml:"name" json:"name"`
	// URL is the webhook URL (http or https). It is a secret: it is never logged or returned by the API, only
	// its scheme and host. Unused for the mqtt format; it defaults to DefaultZaloURL for the zalo format.
	URL string `yaml:"url" json:"-"`
	// Format is one of citywatch, alertmanager, alertmanager_api, slack, teams, teams_messagecard, telegram,
	// zalo, template, mqtt. It defaults to citywatch.
	Format string `yaml:"format" json:"format"`
	// Template is the Go text/template for the template format; it is executed with a Payload.
	Template string `yaml:"template" json:"-"`
	// ContentType is the body's content type for the template format. It defaults to application/json.
	ContentType string `yaml:"content_type" json:"content_type,omitempty"`
	// Secrets sign each request (Standard Webhooks). The first is current; more may be listed during rotation
	// and each adds a signature. "whsec_<base64>" secrets are base64-decoded, others used as raw bytes.
	Secrets []string `yaml:"secrets" json:"-"`
	// Headers are added to every request (for example Authorization). Values are treated as secrets.
	Headers map[string]string `yaml:"headers" json:"-"`
	// AllowPrivate permits loopback, private, link-local and other internal destinations. By default they are
	// refused at dial time (SSRF protection).
	AllowPrivate bool `yaml:"allow_private" json:"allow_private"`
	// Timeout bounds one delivery attempt. It defaults to 10s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MaxConcurrency bounds the requests in flight to this receiver. It defaults to 4.
	MaxConcurrency int `yaml:"max_concurrency" json:"max_concurrency"`
	// TelegramChatID is the chat_id for the telegram format.
	TelegramChatID string `yaml:"telegram_chat_id" json:"-"`
	// ZaloUserID is the Zalo user (of the Official Account) the zalo format sends to.
	ZaloUserID string `yaml:"zalo_user_id" json:"-"`
	// ZaloAccessToken is the Official Account's access token for the zalo format, sent in the access_token
	// header. It is a secret: it never appears in errors, logs or the delivery log.
	ZaloAccessToken string `yaml:"zalo_access_token" json:"-"`
	// Language is the language of the texts the receiver gets (i18n.Langs: "en" or "vi"): the labels and
	// dates of the chat formats, and the summary and description, taken from the alert's summary_<lang> and
	// description_<lang> annotations when it has them. It defaults to "en".
	Language string `yaml:"language" json:"language,omitempty"`
	// TimeZone is the IANA zone the chat formats show times in, named beside them. It defaults to UTC (in
	// English, RFC 3339 as before).
	TimeZone string `yaml:"time_zone" json:"time_zone,omitempty"`
}

// Route sends the alert changes it matches to a receiver.
type Route struct {
	// Receiver is the name of a configured receiver.
	Receiver string `yaml:"receiver" json:"receiver"`
	// Match requires labels to equal these values ("alertname" is the alert name).
	Match map[string]string `yaml:"match" json:"match,omitempty"`
	// MatchRE requires labels to fully match these regular expressions (RE2, anchored).
	MatchRE map[string]string `yaml:"match_re" json:"match_re,omitempty"`
	// Continue keeps evaluating later routes after this one matched. By default the first match wins.
	Continue bool `yaml:"continue" json:"continue"`
}

// Config configures the notification outbox.
type Config struct {
	// Receivers are the destinations.
	Receivers []Receiver `yaml:"receivers"`
	// Routes are evaluated in order; the first match wins unless it has Continue.
	Routes []Route `yaml:"routes"`
	// DefaultReceiver receives changes that match no route. Required when there are receivers.
	DefaultReceiver string `yaml:"default_receiver"`
	// ExternalURL is citywatch's URL as seen by receivers, used for links (snapshots, clips, alerts).
	ExternalURL string `yaml:"external_url"`
	// PollInterval is how often the outbox looks for due deliveries when not woken by Enqueue. It defaults to 1s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MinBackoff is the first retry delay; it doubles per attempt, with jitter. It defaults to 1s.
	MinBackoff time.Duration `yaml:"min_backoff"`
	// MaxBackoff caps the retry delay. It defaults to 5m.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxRetryAfter caps a receiver's Retry-After. It defaults to 1h.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// RetryFor is how long a notification is retried after it was enqueued before it is marked failed (it
	// can then be replayed). It defaults to 24h.
	RetryFor time.Duration `yaml:"retry_for"`
	// BreakerThreshold is the number of consecutive failures that opens a receiver's circuit. It defaults to 5.
	BreakerThreshold int `yaml:"breaker_threshold"`
	// BreakerCooldown is how long an open circuit stays open before a probe. It defaults to 30s.
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
	// Retention is how long finished (delivered, failed, dead) rows are kept in the delivery log. It
	// defaults to 168h (7 days).
	Retention time.Duration `yaml:"retention"`
	// MQTTTopicPrefix is the topic prefix of the mqtt format and of PublishMQTT. It defaults to
	// "citywatch/alerts".
	MQTTTopicPrefix string `yaml:"mqtt_topic_prefix"`
	// PublishMQTT publishes every change on Deps.MQTT as well, whatever the routes say (notify.mqtt.enabled),
	// through a built-in receiver named MQTTReceiverName. It defaults to false.
	PublishMQTT bool `yaml:"publish_mqtt"`
	// GroupBy are the labels of alerts.group_by. The alertmanager format's groupLabels and groupKey are made
	// of them, as Alertmanager makes them from its route's group_by. It defaults to ["alertname", "site"] (nil);
	// an empty non-nil list is one group of all alerts.
	GroupBy []string `yaml:"group_by"`
}

// Defaults for Config and Receiver.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxConcurrency   = 4
	DefaultPollInterval     = time.Second
	DefaultMinBackoff       = time.Second
	DefaultMaxBackoff       = 5 * time.Minute
	DefaultMaxRetryAfter    = time.Hour
	DefaultRetryFor         = 24 * time.Hour
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
	DefaultRetention        = 7 * 24 * time.Hour
	DefaultMQTTTopicPrefix  = "citywatch/alerts"
)

// DefaultGroupBy is Config.GroupBy's default, the same as alerts.group_by's.
var DefaultGroupBy = []string{"alertname", "site"}

// withDefaults returns a copy of c with defaults applied (receivers and routes are copied too).
func (c Config) withDefaults() Config {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setDur(&c.PollInterval, DefaultPollInterval)
	setDur(&c.MinBackoff, DefaultMinBackoff)
	setDur(&c.MaxBackoff, DefaultMaxBackoff)
	setDur(&c.MaxRetryAfter, DefaultMaxRetryAfter)
	setDur(&c.RetryFor, DefaultRetryFor)
	setDur(&c.BreakerCooldown, DefaultBreakerCooldown)
	setDur(&c.Retention, DefaultRetention)
	if c.BreakerThreshold == 0 {
		c.BreakerThreshold = DefaultBreakerThreshold
	}
	if c.MQTTTopicPrefix == "" {
		c.MQTTTopicPrefix = DefaultMQTTTopicPrefix
	}
	if c.GroupBy == nil {
		c.GroupBy = DefaultGroupBy
	}
	c.GroupBy = slices.Clone(c.GroupBy)
	c.Receivers = append([]Receiver(nil), c.Receivers...)
	for i := range c.Receivers {
		r := &c.Receivers[i]
		if r.Format == "" {
			r.Format = FormatCitywatch
		}
		setDur(&r.Timeout, DefaultTimeout)
		if r.MaxConcurrency == 0 {
			r.MaxConcurrency = DefaultMaxConcurrency
		}
		if r.ContentType == "" {
			r.ContentType = "application/json"
		}
		if r.URL == "" {
			r.URL = kinds[r.Format].defaultURL
		}
	}
	c.Routes = append([]Route(nil), c.Routes...)
	return c
}

// Validate reports every problem in the configuration (defaults applied first). Errors name the field and
// quote the bad value, but never a URL path/query, header value, template output or secret.
func (c Config) Validate() error {
	_, err := compileConfig(c.withDefaults())
	return err
}

// compiled is a validated configuration with its regexps and templates ready.
type compiled struct {
	cfg       Config
	receivers map[string]*compiledReceiver
	order     []string // receiver names in config order
	routes    []compiledRoute
}

type compiledReceiver struct {
	Receiver
	groupBy []string // Config.GroupBy, for the alertmanager format's group fields
	tmpl    *template.Template
	target  *url.URL
	keys    [][]byte // decoded signing secrets
}

type compiledRoute struct {
	receiver string
	match    map[string]string
	matchRE  map[string]*regexp.Regexp
	cont     bool
}

func compileConfig(c Config) (*compiled, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	cc := &compiled{cfg: c, receivers: map[string]*compiledReceiver{}}
	for i, r := range c.Receivers {
		p := fmt.Sprintf("receivers[%d]", i)
		cr, rerrs := compileReceiver(p, r)
		errs = append(errs, rerrs...)
		if !config.ValidReceiverName(r.Name) {
			continue
		}
		if _, dup := cc.receivers[r.Name]; dup {
			add("%s.name: duplicate receiver %q", p, r.Name)
			continue
		}
		cr.groupBy = c.GroupBy
		cc.receivers[r.Name] = cr
		cc.order = append(cc.order, r.Name)
	}
	if c.PublishMQTT {
		cc.receivers[MQTTReceiverName] = &compiledReceiver{groupBy: c.GroupBy, Receiver: Receiver{Name: MQTTReceiverName,
			Format: FormatMQTT, Timeout: DefaultTimeout, MaxConcurrency: DefaultMaxConcurrency, ContentType: "application/json"}}
		cc.order = append(cc.order, MQTTReceiverName)
	}
	for i, l := range c.GroupBy {
		if !model.LegacyValidation.IsValidLabelName(l) {
			add("group_by[%d]: invalid label name %q", i, truncate(l, 64))
		}
	}
	for i, rt := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if _, ok := cc.receivers[rt.Receiver]; !ok {
			add("%s.receiver: unknown receiver %q", p, rt.Receiver)
		}
		cr := compiledRoute{receiver: rt.Receiver, match: rt.Match, cont: rt.Continue, matchRE: map[string]*regexp.Regexp{}}
		for k := range rt.Match {
			if k == "" {
				add("%s.match: empty label name", p)
			}
		}
		for k, v := range rt.MatchRE {
			if k == "" {
				add("%s.match_re: empty label name", p)
			}
			re, err := regexp.Compile("^(?:" + v + ")$")
			if err != nil {
				add("%s.match_re[%q]: invalid regular expression %q: %w", p, k, v, err)
				continue
			}
			cr.matchRE[k] = re
		}
		cc.routes = append(cc.routes, cr)
	}
	if c.DefaultReceiver == "" && (len(c.Receivers) > 0 || len(c.Routes) > 0) {
		add("default_receiver: required when receivers are configured (changes that match no route go there)")
	} else if _, ok := cc.receivers[c.DefaultReceiver]; c.DefaultReceiver != "" && !ok {
		add("default_receiver: unknown receiver %q", truncate(c.DefaultReceiver, 64))
	}
	if c.ExternalURL != "" {
		u, err := url.Parse(c.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("external_url: must be an absolute http(s) URL, got %q", c.ExternalURL)
		}
	}
	for name, d := range map[string]time.Duration{"poll_interval": c.PollInterval, "min_backoff": c.MinBackoff,
		"max_backoff": c.MaxBackoff, "max_retry_after": c.MaxRetryAfter, "retry_for": c.RetryFor,
		"breaker_cooldown": c.BreakerCooldown, "retention": c.Retention} {
		if d < 0 {
			add("%s: must be > 0, got %q", name, d.String())
		}
	}
	if c.MaxBackoff < c.MinBackoff {
		add("max_backoff: must be >= min_backoff (%s), got %q", c.MinBackoff, c.MaxBackoff.String())
	}
	if c.BreakerThreshold < 0 {
		add("breaker_threshold: must be >= 0, got %d", c.BreakerThreshold)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cc, nil
}

func compileReceiver(p string, r Receiver) (*compiledReceiver, []error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	cr := &compiledReceiver{Receiver: r}
	if !config.ValidReceiverName(r.Name) {
		add("%s.name: must be %s, got %q", p, config.ReceiverNameRule, truncate(r.Name, 80))
	}
	k, known := kinds[r.Format]
	if !known {
		add("%s.format: unknown format %q (want citywatch, alertmanager, alertmanager_api, slack, teams, "+
			"teams_messagecard, telegram, zalo, template or mqtt)", p, truncate(r.Format, 40))
	}
	if !k.noURL {
		u, err := parseTarget(r.URL, r.AllowPrivate)
		if err != nil {
			add("%s.url: %w", p, err)
		}
		cr.target = u
		if r.Format == FormatAlertmanagerAPI && u != nil && !strings.HasSuffix(u.Path, "/api/v2/alerts") {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v2/alerts"
		}
	}
	if k.check != nil {
		errs = append(errs, k.check(p, r)...)
	}
	errs = append(errs, cr.compileLanguage(p)...)
	if r.Timeout < 0 {
		add("%s.timeout: must be > 0, got %q", p, r.Timeout.String())
	}
	if r.MaxConcurrency < 0 || r.MaxConcurrency > 256 {
		add("%s.max_concurrency: must be between 1 and 256, got %d", p, r.MaxConcurrency)
	}
	if r.Format == FormatTemplate {
		t, err := parseTemplate(r.Name, r.Template)
		if err != nil {
			add("%s.template: %w", p, err)
		}
		cr.tmpl = t
	} else if r.Template != "" {
		add("%s.template: only allowed with format \"template\"", p)
	}
	for i, s := range r.Secrets {
		k, err := decodeSecret(s)
		if err != nil {
			add("%s.secrets[%d]: %w", p, i, err)
			continue
		}
		cr.keys = append(cr.keys, k)
	}
	for k := range r.Headers {
		if !validHeaderName(k) {
			add("%s.headers: invalid header name %q", p, truncate(k, 64))
		}
		if reservedHeader(k) {
			add("%s.headers: header %q is set by citywatch and cannot be overridden", p, k)
		}
	}
	return cr, errs
}

// parseTarget validates a webhook URL without ever echoing it (it may carry a token).
func parseTarget(raw string, allowPrivate bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https, got %q", truncate(u.Scheme, 16))
	}
	if u.Hostname() == "" {
		return nil, errors.New("missing host")
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !allowPrivate {
		if reason := blockedReason(ip); reason != "" {
			return nil, fmt.Errorf("host %s is a %s address; set allow_private to permit it", ip, reason)
		}
	}
	return u, nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c > 127 || !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func reservedHeader(k string) bool {
	switch strings.ToLower(k) {
	case "webhook-id", "webhook-timestamp", "webhook-signature", "content-length", "host":
		return true
	}
	return false
}

// RedactURL returns only the scheme and host of a URL: webhook URLs carry tokens in userinfo, the path
// (Slack, Teams, Telegram bot tokens) and the query, so nothing else is safe to show.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<invalid url>"
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/<redacted>"
	}
	return s
}

// floatPtr converts NaN and infinities to nil so payloads stay valid JSON.
func floatPtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// String describes the receiver without its URL path, query, headers or secrets.
func (r Receiver) String() string {
	u := "<none>"
	if r.URL != "" {
		u = RedactURL(r.URL)
	}
	return fmt.Sprintf("receiver %s (format %s, url %s, %d secrets, %d headers)", r.Name, r.Format, u, len(r.Secrets), len(r.Headers))
}

// GoString keeps %#v from printing secrets.
func (r Receiver) GoString() string { return r.String() }

// LogValue keeps slog from logging secrets.
func (r Receiver) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", r.Name), slog.String("format", r.Format), slog.String("url", RedactURL(r.URL)))
}
