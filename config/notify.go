package config

// Notification receiver formats.
const (
	NotifyFormatCitywatch        = "citywatch"
	NotifyFormatAlertmanager     = "alertmanager"
	NotifyFormatAlertmanagerAPI  = "alertmanager_api"
	NotifyFormatSlack            = "slack"
	NotifyFormatTeams            = "teams"
	NotifyFormatTeamsMessageCard = "teams_messagecard"
	NotifyFormatTelegram         = "telegram"
	NotifyFormatTemplate         = "template"
	// NotifyFormatMQTT publishes on the embedded broker instead of posting a webhook (no url).
	NotifyFormatMQTT = "mqtt"
	// NotifyFormatZalo sends a Zalo Official Account text message (url defaults to the Zalo API).
	NotifyFormatZalo = "zalo"
)

// DefaultReceiverContentType is the Content-Type of template bodies unless content_type says otherwise.
const DefaultReceiverContentType = "application/json"

// Limits of the notify and auth sections, mirroring what the runtime packages accept.
const (
	maxReceiverNameLen     = 64
	maxReceiverConcurrency = 256
	maxNotifyTemplateBytes = 64 << 10
	minWebhookSecretBytes  = 16
	minAdminTokenChars     = 16
	whsecPrefix            = "whsec_"
)

// NotifyConfig configures where alert notifications go.
type NotifyConfig struct {
	// Receivers are the webhook destinations. It defaults to none.
	Receivers []ReceiverConfig `yaml:"receivers"`
	// Routes send the alerts they match to a receiver, tried in order; the first match wins unless it sets
	// continue. It defaults to none.
	Routes []RouteConfig `yaml:"routes"`
	// DefaultReceiver receives the alerts no route matches. It must name a receiver; it is required when
	// routes are set, and defaults to the first receiver when receivers are set without routes (otherwise "").
	DefaultReceiver string `yaml:"default_receiver"`
	// MQTT publishes alert changes on the embedded broker.
	MQTT NotifyMQTTConfig `yaml:"mqtt"`
}

// NotifyMQTTConfig configures alert publishing to citywatch/alerts/<site>/<alert>/<fingerprint> on the embedded
// broker.
type NotifyMQTTConfig struct {
	// Enabled publishes every alert notification (firing, reminder, resolve), besides what routes send to
	// receivers, while the embedded broker runs. It defaults to true.
	Enabled bool `yaml:"enabled"`
}

// ReceiverConfig is one notification destination (a webhook).
type ReceiverConfig struct {
	// Name identifies the receiver in routes, the delivery log and metrics. Required, unique, [a-z0-9_-]+, at
	// most 64 characters.
	Name string `yaml:"name"`
	// URL is the webhook URL, http or https, without credentials. It is a Secret because webhook URLs carry
	// tokens in their path (Slack, Teams, Telegram). Required (or url_file), except for format mqtt, which has
	// none, and format zalo, where it defaults to "https://openapi.zalo.me/v3.0/oa/message/cs".
	URL Secret `yaml:"url"`
	// URLFile is a file holding the URL. Parse reads it into URL.
	URLFile string `yaml:"url_file"`
	// Format is citywatch, alertmanager, alertmanager_api, slack, teams, teams_messagecard, telegram, zalo,
	// template or mqtt (publish on the embedded broker what the routes send here; needs notify.mqtt.enabled: false,
	// which publishes everything). It defaults to "citywatch".
	Format string `yaml:"format"`
	// Template is the Go text/template of the body, for format template only (required there). It defaults
	// to "".
	Template string `yaml:"template"`
	// ContentType is the Content-Type of template bodies. It defaults to "application/json".
	ContentType string `yaml:"content_type"`
	// Secrets sign each request (Standard Webhooks): the first is current, every one adds a signature, so a
	// secret can be rotated without a gap. "whsec_<base64>" secrets are base64-decoded. Each is at least 16
	// bytes. It defaults to none.
	Secrets []Secret `yaml:"secrets"`
	// SecretFiles are files each holding one signing secret, used after Secrets. Parse reads them; use
	// SigningSecrets. It defaults to none.
	SecretFiles []string `yaml:"secret_files"`
	// Headers are extra HTTP headers; their values are Secrets (they may carry API keys). It defaults to none.
	Headers map[string]Secret `yaml:"headers"`
	// HeaderFiles are extra HTTP headers whose values are read from files. Parse reads them; use
	// HTTPHeaders. It defaults to none.
	HeaderFiles map[string]string `yaml:"header_files"`
	// AllowPrivate permits delivery to loopback, private, link-local and other internal addresses. It
	// defaults to false.
	AllowPrivate bool `yaml:"allow_private"`
	// Timeout bounds one delivery attempt. It defaults to 10s.
	Timeout Duration `yaml:"timeout"`
	// MaxConcurrency bounds the requests in flight to this receiver, 1 to 256. It defaults to 4.
	MaxConcurrency int `yaml:"max_concurrency"`
	// TelegramChatID is the chat_id of the telegram format (required there). It defaults to "".
	TelegramChatID string `yaml:"telegram_chat_id"`
	// ZaloUserID is the Zalo user id (as seen by the Official Account) of format zalo (required there). It
	// defaults to "".
	ZaloUserID string `yaml:"zalo_user_id"`
	// ZaloAccessToken is the Official Account's access token of format zalo, sent in the access_token header
	// (required there, or zalo_access_token_file). It defaults to "".
	ZaloAccessToken Secret `yaml:"zalo_access_token"`
	// ZaloAccessTokenFile is a file holding the access token. Parse reads it into ZaloAccessToken.
	ZaloAccessTokenFile string `yaml:"zalo_access_token_file"`
	// Language is the language of the notification texts, "en" or "vi": labels, state words, dates, and the
	// summary and description from the rule's summary_<lang> and description_<lang> annotations when given. It
	// defaults to "en".
	Language string `yaml:"language"`
	// TimeZone is the IANA time zone the chat formats show times in, with the zone named. It defaults to ""
	// (UTC).
	TimeZone string `yaml:"time_zone"`

	// SecretFileValues are the secrets read from SecretFiles, in order ("" where a file could not be read).
	// Parse and Complete fill them; they are not a key of the file. (Exported so that fmt redacts them too:
	// fmt cannot call the redacting methods of an unexported field.)
	SecretFileValues []Secret `yaml:"-" json:"-"`
	// HeaderFileValues are the header values read from HeaderFiles. Parse and Complete fill them; they are not
	// a key of the file.
	HeaderFileValues map[string]Secret `yaml:"-" json:"-"`
}

// SigningSecrets returns the signing secrets: Secrets, then those read from SecretFiles.
func (r ReceiverConfig) SigningSecrets() []Secret {
	out := make([]Secret, 0, len(r.Secrets)+len(r.SecretFileValues))
	out = append(out, r.Secrets...)
	for _, s := range r.SecretFileValues {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// HTTPHeaders returns the extra HTTP headers: Headers and those read from HeaderFiles.
func (r ReceiverConfig) HTTPHeaders() map[string]Secret {
	out := make(map[string]Secret, len(r.Headers)+len(r.HeaderFileValues))
	for k, v := range r.Headers {
		out[k] = v
	}
	for k, v := range r.HeaderFileValues {
		out[k] = v
	}
	return out
}

// RouteConfig sends the alerts it matches to a receiver. A route without match and match_re matches every
// alert. The labels matched are the alert's labels plus "alertname".
type RouteConfig struct {
	// Receiver names a notify.receivers entry. Required.
	Receiver string `yaml:"receiver"`
	// Match requires labels to equal these values. It defaults to none.
	Match map[string]string `yaml:"match"`
	// MatchRE requires labels to match these RE2 regular expressions, anchored at both ends. It defaults to
	// none.
	MatchRE map[string]string `yaml:"match_re"`
	// Continue keeps trying later routes after this one matched. It defaults to false (the first match wins).
	Continue bool `yaml:"continue"`
}
