package broker

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"citywatch/ingest"
)

// Source is the ingest.Message Source of messages received by the embedded broker.
const Source = "embedded"

// ingestable reports whether a message on topic goes to the Sink: not "$"-topics ($SYS) and not the broker's
// own output topics.
func ingestable(topic string) bool {
	return !reservedForPublish(topic)
}

// errNotStored is the reason code sent to MQTT 5 publishers whose QoS 1/2 message the Sink failed to store.
var errNotStored = packets.Code{Code: packets.ErrUnspecifiedError.Code, Reason: "message not stored, retry later"}

// ingestHook hands every publish from a network client to the Sink, synchronously in the client's read
// goroutine, before mochi acknowledges it (mochi calls OnPublish before it writes PUBACK/PUBREC). The payload
// is the slice mochi decoded, not a copy.
//
// When the Sink fails, the message is not acknowledged as stored:
//   - QoS 1/2, MQTT 5: the PUBACK/PUBREC carries reason code 0x80 "message not stored, retry later", and
//     the message is not routed to subscribers (the flow is complete; the publisher's library reports it).
//   - QoS 1/2, MQTT 3.1.1 (no failure acks): the connection is closed without the ack, so the client
//     redelivers after reconnecting (with a persistent session; its Will is sent, as for any abnormal
//     disconnect). The message is not routed, so subscribers don't see it twice.
//   - QoS 0: nothing can be redelivered; it is counted (outcome "dropped") and logged, and still routed.
//
// Each case counts citywatch_broker_ingest_failures_total{outcome}.
type ingestHook struct {
	mqtt.HookBase
	ctx       context.Context
	sink      Sink
	maxPacket uint32
	connected *atomic.Int64
	m         *metrics
	logs      *limitedLogger
	flow      *subscriberFlow
	done      <-chan struct{} // closed when the broker closes
}

func (h *ingestHook) ID() string { return "citywatch-ingest" }

func (h *ingestHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublish, mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnPacketEncode, mqtt.OnPublishDropped,
		mqtt.OnSubscribed, mqtt.OnQosComplete:
		return true
	}
	return false
}

func (h *ingestHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.connected.Add(1)
	h.m.connections.Inc()
}

func (h *ingestHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.connected.Add(-1)
	h.flow.remove(cl)
}

// OnSubscribed tracks subscribers for the flow control of publishers (flow.go).
func (h *ingestHook) OnSubscribed(cl *mqtt.Client, _ packets.Packet, _ []byte) { h.flow.add(cl) }

// OnQosComplete wakes publishers waiting for a subscriber to acknowledge.
func (h *ingestHook) OnQosComplete(*mqtt.Client, packets.Packet) { h.flow.acked() }

// OnPublishDropped counts and logs a message mochi could not queue for a slow subscriber (its outbound queue,
// Capabilities.MaximumClientWritesPending, is full). Ingest is not affected: it does not subscribe.
func (h *ingestHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	h.m.subscriberDrops.Inc()
	h.logs.log(slog.LevelWarn, "subscriber-drop", "mqtt message dropped for a slow subscriber",
		"client", cl.ID, "topic", pk.TopicName)
}

// OnPacketEncode tells MQTT 5 clients the maximum packet size in a successful CONNACK, so that they don't
// send packets the broker will refuse.
func (h *ingestHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode < packets.ErrUnspecifiedError.Code {
		pk.Properties.MaximumPacketSize = h.maxPacket
	}
	return pk
}

func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // Broker.Publish has handed it to the Sink already
	}
	h.m.messagesReceived.Inc()
	// Before anything else, so that a burst waits here while a subscriber is behind rather than be dropped
	// for it by mochi after it was stored.
	h.flow.wait(h.done)
	if !ingestable(pk.TopicName) {
		return pk, nil
	}
	err := h.sink.Handle(h.ctx, ingest.Message{
		Topic:    pk.TopicName,
		Payload:  pk.Payload,
		Received: time.Now(),
		Source:   Source,
		ClientID: cl.ID,
	})
	if err == nil {
		return pk, nil
	}
	return h.failed(cl, pk, err)
}

func (h *ingestHook) failed(cl *mqtt.Client, pk packets.Packet, err error) (packets.Packet, error) {
	qos := pk.FixedHeader.Qos
	outcome := outcomeDropped
	switch {
	case qos == 0:
	case cl.Properties.ProtocolVersion >= 5:
		outcome = outcomeNacked
	default:
		outcome = outcomeDisconnected
	}
	// Count and log before telling the client, so that whoever sees the nack or disconnect sees the count.
	h.m.ingestFailures.WithLabelValues(outcome).Inc()
	h.logs.log(slog.LevelError, "ingest/"+outcome, "ingest sink failed to store an MQTT message",
		"err", err, "outcome", outcome, "client", cl.ID, "topic", pk.TopicName, "qos", qos)
	switch outcome {
	case outcomeDropped:
		return pk, nil
	case outcomeNacked:
		ackType := packets.Puback
		if qos == 2 {
			ackType = packets.Pubrec
		}
		_ = cl.WritePacket(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: ackType},
			PacketID:    pk.PacketID,
			ReasonCode:  errNotStored.Code,
			Properties:  packets.Properties{ReasonString: errNotStored.Reason},
		})
	default:
		// Closing the connection (not cl.Stop) makes mochi's read loop fail, so it treats this as an abnormal
		// disconnect, like a network error.
		if cl.Net.Conn != nil {
			_ = cl.Net.Conn.Close()
		}
	}
	return pk, packets.ErrRejectPacket
}
