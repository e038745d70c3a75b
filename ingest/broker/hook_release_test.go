package broker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

func newAllocHook(sink *syncDoneSink) *ingestHook {
	var connected atomic.Int64
	return &ingestHook{
		async:     sink,
		sink:      sink,
		flow:      newSubscriberFlow(subscriberHighWater, subscriberMaxWait, func() {}),
		done:      make(chan struct{}),
		ctx:       context.Background(),
		connected: &connected,
		m:         newMetrics(nil, &connected),
		logs:      &limitedLogger{lim: newRateLimiter(time.Second, time.Now)},
	}
}

// TestAsyncPublishReleaseKeepsNothing: a pooled asyncPublish keeps no packet (its payload and topic) or
// client alive once released, whatever the QoS it carried; a QoS 0 one skips zeroing the packet it never held.
func TestAsyncPublishReleaseKeepsNothing(t *testing.T) {
	for _, qos := range []byte{0, 1, 2} {
		// From the pool, as the hook takes it: a value made here would lack its bound completions and, once
		// released into the pool, hand a nil callback to the next publish of another test.
		q := getAsyncPublish()
		q.h, q.cl, q.topic, q.inPlace = &ingestHook{}, &mqtt.Client{ID: "c"}, "city/a/b/c", context.Canceled
		if qos > 0 {
			q.pk = packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, PacketID: 9,
				TopicName: "city/a/b/c", Payload: []byte("{}")}
		}
		q.state.Store(1)
		q.release()
		require.Zero(t, q.pk.FixedHeader, "QoS %d", qos)
		require.Nil(t, q.pk.Payload, "QoS %d", qos)
		require.Empty(t, q.pk.TopicName, "QoS %d", qos)
		require.Nil(t, q.h)
		require.Nil(t, q.cl)
		require.Empty(t, q.topic)
		require.NoError(t, q.inPlace)
		require.Zero(t, q.state.Load())
		require.NotNil(t, q.qos0Done, "a released value keeps its bound completions")
		require.NotNil(t, q.qos1Done)
	}
}

// BenchmarkOnPublishAsync is the hook's own cost per publish handed to an AsyncSink that completes it at once
// (the sink's work excluded), by QoS.
func BenchmarkOnPublishAsync(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(map[byte]string{0: "qos=0", 1: "qos=1"}[qos], func(b *testing.B) {
			h := newAllocHook(&syncDoneSink{})
			cl := &mqtt.Client{ID: "c1"}
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, PacketID: 7,
				TopicName: "city/d1/site1/dev1", Payload: []byte(`{"temperature":21.5}`)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.OnPublish(cl, pk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
