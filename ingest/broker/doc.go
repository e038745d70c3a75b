// Package broker is citywatch's embedded MQTT broker, built on mochi-mqtt: TCP, WebSocket and TLS listeners,
// bcrypt device authentication, per-user topic ACLs, and an in-process ingest hook that hands every received
// message to the ingest Sink before the publisher is acknowledged.
//
// # Delivery guarantee
//
// The ingest hook runs in mochi's OnPublish, which mochi calls in the publishing client's read goroutine
// before it writes PUBACK (QoS 1) or PUBREC (QoS 2). So a QoS 1/2 publisher is acknowledged only after
// Sink.Handle returned nil, that is after the samples were appended durably (or the message was rejected for
// its content, which is counted and kept by the pipeline). When Handle returns an error:
//
//   - MQTT 5, QoS 1/2: the PUBACK/PUBREC carries reason code 0x80 with reason string "message not stored,
//     retry later"; the message is not routed to subscribers.
//   - MQTT 3.1.1, QoS 1/2 (3.1.1 has no negative acknowledgement): the connection is closed without the
//     ack. A client with a persistent session (clean session false) redelivers after reconnecting; the
//     message is not routed, so subscribers do not see it twice. The client's Will is published, as for any
//     abnormal disconnect.
//   - QoS 0: nothing can be redelivered. The message is counted (outcome "dropped"), logged, and still routed.
//
// Every case increments citywatch_broker_ingest_failures_total{outcome="nacked"|"disconnected"|"dropped"}.
// Messages of one client reach the Sink in order, one at a time; clients are handled concurrently.
//
// Messages on "$" topics ($SYS) and on the broker's own output topics (OutputTopicPrefix, "citywatch/") are
// not ingested, and network clients may not publish there. Will messages are routed but not ingested.
//
// # Authentication and ACLs
//
// Users have bcrypt password hashes. Successful verifications are cached (keyed by SHA-256 of hash and
// password, bounded), so reconnect storms cost a hash, not ~50 ms of bcrypt each. Password checks are
// rate-limited per client IP (10, then one per 6 s; a success gives its attempt back) and bounded in
// concurrency. A client ID that is the session of another user cannot be taken over. Publish and subscribe
// ACLs are MQTT topic filters with "{username}" substituted; a subscription must be entirely covered by an
// allowed filter (Covers), and deliveries are checked again (Match).
//
// # Publishing in process
//
// Broker.Publish injects a message through mochi's inline client: no socket, no encoding. It is also the
// fastest way to push many messages in process (about 1 µs per message against 6-12 µs over TCP with paho in
// BenchmarkIngestQoS0/QoS1 on a 2-core machine).
package broker
