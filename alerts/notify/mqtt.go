package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MQTTPublisher publishes alert changes to "<Prefix>/<site>/<alert>": the citywatch JSON payload, retained,
// while firing, and an empty retained message on resolve, which clears the topic for new subscribers. The
// outbox uses it for receivers with format "mqtt" (durable, retried); it can also be used directly.
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

// Topic returns the topic of a change: prefix, site label ("_" if none) and alert name, with MQTT wildcard
// and separator characters replaced by "_" so a label cannot address another topic.
func (m *MQTTPublisher) Topic(c Change) string {
	return m.topic(c.Labels["site"], c.Name)
}

func (m *MQTTPublisher) topic(site, alert string) string {
	prefix := m.Prefix
	if prefix == "" {
		prefix = DefaultMQTTTopicPrefix
	}
	return strings.TrimSuffix(prefix, "/") + "/" + topicSegment(site) + "/" + topicSegment(alert)
}

func topicSegment(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '+', '#', 0:
			return '_'
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
	topic := m.topic(c.Labels["site"], c.Name)
	if c.State == "resolved" {
		body = []byte{} // an empty retained message deletes the retained one
	}
	if err := m.Pub.Publish(topic, body, true, m.QoS); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}
