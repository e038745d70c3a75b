package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MQTTPublisher publishes alert changes to "<Prefix>/<site>/<alert>/<fingerprint>": the citywatch JSON payload,
// retained, while firing, and an empty retained message on resolve, which clears the topic for new
// subscribers. The outbox uses it for receivers with format "mqtt" and for Config.PublishMQTT (durable,
// retried); it can also be used directly.
//
// Each alert has its own topic: several alerts of one name at one site (two cameras offline, two wearables
// with a fever) would otherwise share one retained message, so the resolve of one would clear the topic while
// the other still fires, and a subscriber connecting later would see only one of them. The fingerprint is the
// stable hash of the alert's labels (the payload's "fingerprint"): subscribe to "<Prefix>/<site>/<alert>/+"
// for one alert name, or "<Prefix>/#" for everything.
type MQTTPublisher struct {
	// Pub is the broker (the embedded mochi server's Publish matches).
	Pub Publisher
	// Prefix is the topic prefix. It defaults to "citywatch/alerts".
	Prefix string
	// QoS of the messages. It defaults to 0 (1 recommended with external brokers).
	QoS byte
	// ExternalURL prefixes media links in the payload.
	ExternalURL string
}

// Topic returns the topic of a change: prefix, site label ("_" if none), alert name and fingerprint, with
// MQTT wildcard and separator characters replaced by "_" so a label cannot address another topic.
func (m *MQTTPublisher) Topic(c Change) string {
	return m.topic(c.Labels["site"], c.Name, c.Fingerprint)
}

func (m *MQTTPublisher) topic(site, alert, fingerprint string) string {
	prefix := m.Prefix
	if prefix == "" {
		prefix = DefaultMQTTTopicPrefix
	}
	return strings.TrimSuffix(prefix, "/") + "/" + topicSegment(site) + "/" + topicSegment(alert) + "/" +
		topicSegment(fingerprint)
}

func topicSegment(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '/', r == '+', r == '#', r == utf8.RuneError, unicode.IsControl(r):
			return '_' // separators, wildcards, invalid UTF-8 and controls (MQTT 1.5.4) never reach the topic
		}
		return r
	}, s)
}

// Notify publishes one change now (not through the outbox).
func (m *MQTTPublisher) Notify(_ context.Context, c Change) error {
	if m.Pub == nil {
		return errors.New("notify: MQTTPublisher has no broker")
	}
	if err := validateChange(c); err != nil {
		return fmt.Errorf("notify: mqtt: %w", err)
	}
	sc := toStored(c)
	body, err := json.Marshal(buildPayload("", "mqtt", m.ExternalURL, sc))
	if err != nil {
		return fmt.Errorf("notify: mqtt: encode: %w", err)
	}
	return m.publish(sc, body)
}

func (m *MQTTPublisher) publish(c storedChange, body []byte) error {
	topic := m.topic(c.Labels["site"], c.Name, c.Fingerprint)
	if c.State == "resolved" {
		body = []byte{} // an empty retained message deletes the retained one
	}
	if err := m.Pub.Publish(topic, body, true, m.QoS); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// mqttKind publishes the citywatch payload on the broker (MQTTPublisher): the receivers of format mqtt and the
// built-in MQTTReceiverName of Config.PublishMQTT.
var mqttKind = kind{
	render: renderJSON(citywatchBody),
	newNotifier: func(cr *compiledReceiver, env integrationEnv) (Notifier, error) {
		if env.mqtt == nil {
			return nil, fmt.Errorf("notify: receiver %q has format mqtt but Deps.MQTT is nil", cr.Name)
		}
		return &mqttNotifier{cr: cr, pub: env.mqtt}, nil
	},
	noURL: true,
}

// mqttNotifier is the mqtt integration. A failed publish is retried: the broker may be restarting.
type mqttNotifier struct {
	cr  *compiledReceiver
	pub *MQTTPublisher
}

// Notify publishes the message, or the empty retained message of a resolve.
func (n *mqttNotifier) Notify(ctx context.Context, m Message) (bool, error) {
	if err := ctx.Err(); err != nil {
		return failure(true, "network", 0, "mqtt publish: %s", err)
	}
	body, _, err := render(n.cr, buildPayload(m.Key, n.cr.Name, n.pub.ExternalURL, m.change), m.change, n.pub.ExternalURL)
	if err != nil {
		return failure(false, reasonRenderError, 0, "%s", err)
	}
	if err := n.pub.publish(m.change, body); err != nil {
		return failure(true, "network", 0, "mqtt publish: %s", err)
	}
	return false, nil
}
