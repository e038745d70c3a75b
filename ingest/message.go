// Package ingest turns MQTT messages into stored samples: sources (the embedded broker hook, external brokers
// through paho) hand messages to a Pipeline, which maps them to samples, appends them durably, keeps the device
// registry and counts, logs and keeps every rejection.
package ingest

import "time"

// Message is one MQTT publish as received by a source.
type Message struct {
	// Topic is the topic the message was published on (never a shared-subscription filter).
	Topic string
	// Payload is the message body. The pipeline does not keep it past Handle except in the dead-letter list,
	// where it copies a bounded prefix.
	Payload []byte
	// Received is when the source received the message; samples without their own time get it.
	Received time.Time
	// Source names where the message came from: "embedded" or an external broker's configured name.
	Source string
	// ClientID is the publishing client when known (embedded broker), else empty.
	ClientID string
}
