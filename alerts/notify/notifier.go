package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"citywatch/internal/clock"
)

// Notifier is one receiver kind's integration: it sends one notification and says whether a failure is worth
// retrying, in the shape of Alertmanager's notify.Notifier. The outbox owns everything around it (durable
// rows, backoff, circuit breaker, Retry-After pauses, metrics, logs); an integration owns only the wire
// format and what the receiver's answer means.
//
// Notify returns (false, nil) when the receiver accepted the message. On failure it returns an error whose
// message is safe to log and store (no URL token, header value, access token or signing secret), usually an
// *Error carrying the attempt's outcome and the receiver's Retry-After, and retry says whether the same
// message may succeed later (network errors, 5xx, 429) or never will (4xx, unrenderable). It must return
// promptly when ctx is done.
type Notifier interface {
	Notify(ctx context.Context, m Message) (retry bool, err error)
}

// Message is one notification: an alert change and the key of its delivery.
type Message struct {
	// Key is the delivery's idempotency key: the payload's "id" and the webhook-id header. Receivers dedupe on it.
	Key    string
	change storedChange
	// status, when set by the outbox, receives the HTTP status of a delivered message for the delivery log
	// (failures carry theirs in *Error).
	status *int
}

// NewMessage returns the message of a change with the delivery key key (see IdempotencyKey).
func NewMessage(key string, c Change) Message { return Message{Key: key, change: toStored(c)} }

// Error is a failed delivery attempt, classified. Its message is redacted: it never holds a secret.
type Error struct {
	// Reason is the attempt's outcome as counted in citywatch_notify_attempts_total: http_4xx, http_4xx_retry,
	// http_5xx, rate_limited, timeout, network, blocked, redirect, render_error or api_error.
	Reason string
	// StatusCode is the receiver's HTTP status; 0 when there was no response.
	StatusCode int
	// RetryAfter is how long the receiver asked to wait (the Retry-After header, or an API's own field); 0 when
	// it did not say. The outbox caps it at Config.MaxRetryAfter and pauses the receiver until then.
	RetryAfter time.Duration
	// Msg describes the failure.
	Msg string
}

// Error returns the redacted message.
func (e *Error) Error() string { return e.Msg }

// Outcome words the outbox itself also gives (see Error.Reason).
const (
	reasonSuccess     = "success"
	reasonRenderError = "render_error"
)

// failure builds the (retry, err) an integration returns.
func failure(retry bool, reason string, code int, format string, a ...any) (bool, error) {
	return retry, &Error{Reason: reason, StatusCode: code, Msg: fmt.Sprintf(format, a...)}
}

// classify reads the outcome of a Notify call for the outbox's metrics and breaker.
func classify(retry bool, err error) (reason string, code int, retryAfter time.Duration) {
	if err == nil {
		return reasonSuccess, 0, 0
	}
	var ne *Error
	if errors.As(err, &ne) {
		return ne.Reason, ne.StatusCode, ne.RetryAfter
	}
	if retry {
		return "network", 0, 0
	}
	return reasonRenderError, 0, 0
}

// integrationEnv is what the outbox gives every integration it builds.
type integrationEnv struct {
	externalURL string
	clock       clock.Clock
	mqtt        *MQTTPublisher // nil without Deps.MQTT
}

// kind is one receiver format: how it renders a change, and how its integration is built.
type kind struct {
	// render produces the request body and content type; nil for kinds that send no body of their own.
	render func(cr *compiledReceiver, p Payload, c storedChange, externalURL string) ([]byte, string, error)
	// newNotifier builds the integration of a compiled receiver.
	newNotifier func(cr *compiledReceiver, env integrationEnv) (Notifier, error)
	// noURL marks kinds that do not post to a URL (mqtt).
	noURL bool
	// defaultURL is the URL when the receiver sets none ("" = url is required).
	defaultURL string
	// check validates the kind's own receiver fields; p is the receiver's key path.
	check func(p string, r Receiver) []error
}

// kinds are the receiver formats: adding a receiver kind is adding an entry here and its file (zalo.go is a
// small example), and running its integration through notifytest.
var kinds = map[string]kind{
	FormatCitywatch:        webhookKind(renderJSON(citywatchBody)),
	FormatAlertmanager:     webhookKind(renderJSON(alertmanagerBody)),
	FormatAlertmanagerAPI:  webhookKind(renderJSON(alertmanagerAPIBody)),
	FormatSlack:            webhookKind(renderJSON(slackBody)),
	FormatTeams:            webhookKind(renderJSON(teamsBody)),
	FormatTeamsMessageCard: webhookKind(renderJSON(teamsMessageCardBody)),
	FormatTemplate:         webhookKind(renderTemplate),
	FormatTelegram:         telegramKind,
	FormatZalo:             zaloKind,
	FormatMQTT:             mqttKind,
}

// render produces the request body and content type of a delivery in the receiver's format.
func render(cr *compiledReceiver, p Payload, c storedChange, externalURL string) ([]byte, string, error) {
	k, ok := kinds[cr.Format]
	if !ok || k.render == nil {
		return nil, "", fmt.Errorf("unknown format %q", cr.Format)
	}
	return k.render(cr, localize(cr, p), c, externalURL)
}

// newNotifier builds the integration of a compiled receiver.
func newNotifier(cr *compiledReceiver, env integrationEnv) (Notifier, error) {
	k, ok := kinds[cr.Format]
	if !ok {
		return nil, fmt.Errorf("notify: receiver %q: unknown format %q", cr.Name, cr.Format)
	}
	return k.newNotifier(cr, env)
}

// NewNotifier builds the integration of the receiver named name in cfg, exactly as the outbox does (defaults,
// validation, SSRF-guarded client), for sending outside the outbox and for notifytest.
func NewNotifier(cfg Config, name string, deps Deps) (Notifier, error) {
	cc, err := compileConfig(cfg.withDefaults())
	if err != nil {
		return nil, fmt.Errorf("notify: invalid config: %w", err)
	}
	cr, ok := cc.receivers[name]
	if !ok {
		return nil, fmt.Errorf("notify: unknown receiver %q", name)
	}
	env := integrationEnv{externalURL: cc.cfg.ExternalURL, clock: clock.Or(deps.Clock)}
	if deps.MQTT != nil {
		env.mqtt = &MQTTPublisher{Pub: deps.MQTT, Prefix: cc.cfg.MQTTTopicPrefix, QoS: 1, ExternalURL: cc.cfg.ExternalURL}
	}
	return newNotifier(cr, env)
}
