package broker

import (
	"context"
	"log/slog"
	"sync"
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

// ingestHook hands every publish from a network client to the Sink before the client is acknowledged. The
// payload is the slice mochi decoded for this packet alone, not a copy.
//
// With a plain Sink, OnPublish calls Handle synchronously in the client's read goroutine (mochi writes the
// PUBACK/PUBREC after OnPublish returned). With an AsyncSink (the ingest pipeline, which stores the messages of
// many publishes with one commit), the read goroutine does not wait for the commit:
//   - QoS 0 is routed to subscribers at once and stored in the background: nothing waits on an ack path.
//   - QoS 1/2 is held back from mochi (OnPublish refuses it for now) and, once its batch is durable, given to
//     mochi again with InjectPacket, marked as stored, so that mochi acknowledges it and routes it as usual.
//     The publisher's next messages are read meanwhile and join the batch; the acknowledgements of one
//     client come in the order of its messages, since batches complete in queue order.
//
// The marker of a stored message given back is packets.Packet.Ignore, which mochi never sets on a decoded
// packet and which this hook clears before mochi reads it.
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
	async     AsyncSink       // nil when the Sink is synchronous only
	// asyncMsg is the Sink when it gives the message back to its completion (the ingest pipeline): a QoS 0
	// publish then needs no pooled state of its own. qos0Stored is its completion, made once.
	asyncMsg   asyncMessageSink
	qos0Stored func(ingest.Message, error)
	srv        *mqtt.Server // to give stored QoS 1/2 messages back to mochi
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
	if pk.Ignore {
		pk.Ignore = false // stored, given back by stored(): acknowledge and route
		return pk, nil
	}
	h.m.messagesReceived.Inc()
	// Before anything else, so that a burst waits here while a subscriber is behind rather than be dropped
	// for it by mochi after it was stored.
	h.flow.wait(h.done)
	if !ingestable(pk.TopicName) {
		return pk, nil
	}
	msg := ingest.Message{
		Topic:    pk.TopicName,
		Payload:  pk.Payload,
		Received: time.Now(),
		Source:   Source,
		ClientID: cl.ID,
	}
	if h.async == nil {
		if err := h.sink.Handle(h.ctx, msg); err != nil {
			return h.failed(cl, pk, err)
		}
		return h.unrouted(pk), nil
	}
	if pk.FixedHeader.Qos == 0 && h.asyncMsg != nil {
		h.asyncMsg.HandleAsyncMessage(h.ctx, msg, h.qos0Stored)
		return h.unrouted(pk), nil
	}
	q := getAsyncPublish()
	q.h, q.cl = h, cl
	if pk.FixedHeader.Qos == 0 {
		// Routed at once; only a failure needs the topic (the packet itself is not kept).
		q.topic = pk.TopicName
		h.async.HandleAsync(h.ctx, msg, q.qos0Done)
		return h.unrouted(pk), nil
	}
	// Completed at once (a message rejected for its content, or nothing to store): answer in place, as the
	// synchronous path does, instead of giving it back to mochi from inside its own OnPublish.
	q.pk = pk
	h.async.HandleAsync(h.ctx, msg, q.qos1Done)
	if !q.state.CompareAndSwap(0, 1) {
		inPlace := q.inPlace
		q.release()
		if inPlace != nil {
			return h.failed(cl, pk, inPlace)
		}
		return pk, nil
	}
	return held(pk), nil // for now; stored() acknowledges it or gives it back
}

// routes reports whether mochi must route pk after it was stored: someone subscribes (a network client; the
// broker makes no inline subscriptions of its own), or it is retained. Sensors publish and nobody subscribes
// in most deployments, and mochi's routing costs a subscriber lookup (four maps) per message even then.
// A subscription made while a message is on its way may or may not get it, as with any broker.
func (h *ingestHook) routes(pk *packets.Packet) bool {
	return h.srv == nil || pk.FixedHeader.Retain || atomic.LoadInt64(&h.srv.Info.Subscriptions) > 0
}

// unrouted returns pk marked so that mochi skips routing it when nobody can receive it (routes).
func (h *ingestHook) unrouted(pk packets.Packet) packets.Packet {
	if !h.routes(&pk) {
		pk.Ignore = true // mochi's publishToSubscribers returns at once; nothing else reads it for QoS 0
	}
	return pk
}

// held returns what mochi gets back from OnPublish for a QoS 1/2 publish held until it is stored: a packet
// mochi neither acknowledges, retains nor routes (QoS 0, not retained, ignored). Returning
// packets.ErrRejectPacket would do the same, but mochi's hook runner then logs the rejection at debug level,
// which boxes the whole packet (about 1.7 KB) into an interface for every publish, whether or not debug
// logging is on.
func held(pk packets.Packet) packets.Packet {
	pk.FixedHeader.Qos, pk.FixedHeader.Retain, pk.Ignore = 0, false, true
	return pk
}

// asyncPublish is a publish handed to the AsyncSink, until its completion. It is pooled, with its completion
// functions made once, because a closure over the packet would move the whole packets.Packet (about 1.7 KB) to
// the heap for every publish, whatever its QoS.
type asyncPublish struct {
	h     *ingestHook
	cl    *mqtt.Client
	topic string         // QoS 0
	pk    packets.Packet // QoS 1/2: given back to mochi once stored
	// state is 0 while OnPublish is in HandleAsync, 1 once it returned, 2 when completed in place (inPlace set
	// before the swap that publishes it to OnPublish).
	state   atomic.Int32
	inPlace error

	qos0Done, qos1Done func(error)
}

// asyncPublishes recycles asyncPublish values (a sync.Pool without New: its New would refer back to it).
var asyncPublishes sync.Pool

func getAsyncPublish() *asyncPublish {
	if q, ok := asyncPublishes.Get().(*asyncPublish); ok {
		return q
	}
	q := &asyncPublish{}
	q.qos0Done, q.qos1Done = q.completeQoS0, q.completeQoS1
	return q
}

func (q *asyncPublish) release() {
	if q.pk.FixedHeader.Type != 0 {
		// Only a QoS 1/2 publish holds a packet. Zeroing it costs about 1.7 KB of writes with write barriers,
		// which a QoS 0 publish must not pay (it was 5 % of the embedded QoS 0 path's CPU).
		q.pk = packets.Packet{}
	}
	q.h, q.cl, q.topic, q.inPlace = nil, nil, "", nil
	q.state.Store(0)
	asyncPublishes.Put(q)
}

func (q *asyncPublish) completeQoS0(err error) {
	if err != nil {
		q.h.failedQoS0(q.cl.ID, q.topic, err)
	}
	q.release()
}

func (q *asyncPublish) completeQoS1(err error) {
	if q.state.Load() == 0 {
		q.inPlace = err
		if q.state.CompareAndSwap(0, 2) {
			return // OnPublish answers and releases q
		}
	}
	q.h.stored(q.cl, &q.pk, err)
	q.release()
}

// stored completes a QoS 1/2 message whose batch was committed (err nil) or failed: mochi acknowledges and
// routes it, or the publisher is told it was not stored.
func (h *ingestHook) stored(cl *mqtt.Client, pk *packets.Packet, err error) {
	if err != nil {
		_, _ = h.failed(cl, *pk, err)
		return
	}
	// Routing happens now, not when the publisher's read loop saw the message: wait here for subscribers
	// that are behind, which holds the batch's other messages and, once the queue is full, the publishers.
	h.flow.wait(h.done)
	if cl.Closed() {
		return // stored but not acknowledged: the publisher redelivers it with its session (at least once)
	}
	if pk.FixedHeader.Qos == 1 && !h.routes(pk) {
		// Nothing to route: acknowledge it here rather than run mochi's whole publish path again on the
		// commit goroutine (ACL check, inflight bookkeeping, a subscriber lookup) for one PUBACK. An error
		// means the client is gone: it redelivers with its session.
		_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
		return
	}
	pk.Ignore = true
	// An error means the client is gone: it was not acknowledged and redelivers with its session.
	_ = h.srv.InjectPacket(cl, *pk)
}

// failedQoS0 counts and logs a QoS 0 message the Sink failed to store: nothing can be redelivered.
func (h *ingestHook) failedQoS0(clientID, topic string, err error) {
	h.m.ingestFailures.WithLabelValues(outcomeDropped).Inc()
	h.logs.log(slog.LevelError, "ingest/"+outcomeDropped, "ingest sink failed to store an MQTT message",
		"err", err, "outcome", outcomeDropped, "client", clientID, "topic", topic, "qos", byte(0))
}

func (h *ingestHook) failed(cl *mqtt.Client, pk packets.Packet, err error) (packets.Packet, error) {
	qos := pk.FixedHeader.Qos
	outcome := outcomeDropped
	switch {
	case qos == 0:
		h.failedQoS0(cl.ID, pk.TopicName, err)
		return pk, nil
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

// asyncMessageSink is an AsyncSink whose completion is given the message back (*ingest.Pipeline).
type asyncMessageSink interface {
	HandleAsyncMessage(ctx context.Context, m ingest.Message, done func(ingest.Message, error))
}

// completeQoS0 is the completion of a QoS 0 publish handed to an asyncMessageSink: only a failure needs it.
func (h *ingestHook) completeQoS0(m ingest.Message, err error) {
	if err != nil {
		h.failedQoS0(m.ClientID, m.Topic, err)
	}
}
