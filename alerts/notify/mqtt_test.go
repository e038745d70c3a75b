package notify

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type published struct {
	topic   string
	payload []byte
	retain  bool
	qos     byte
}

type fakeBroker struct {
	mu   sync.Mutex
	msgs []published
	fail error
}

func (b *fakeBroker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.msgs = append(b.msgs, published{topic, append([]byte(nil), payload...), retain, qos})
	return nil
}

func (b *fakeBroker) all() []published {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]published(nil), b.msgs...)
}

func TestMQTTPublisher(t *testing.T) {
	b := &fakeBroker{}
	m := &MQTTPublisher{Pub: b, QoS: 1}
	c := goldenChanges["firing"]
	c.Labels = map[string]string{"site": "ward/b+#", "alertname": c.Name}
	require.NoError(t, m.Notify(context.Background(), c))
	res := goldenChanges["resolved"]
	require.NoError(t, m.Notify(context.Background(), res))
	msgs := b.all()
	require.Len(t, msgs, 2)
	require.Equal(t, "citywatch/alerts/ward_b__/CameraDown", msgs[0].topic)
	require.True(t, msgs[0].retain)
	require.Equal(t, byte(1), msgs[0].qos)
	var p Payload
	require.NoError(t, json.Unmarshal(msgs[0].payload, &p))
	require.Equal(t, "firing", p.State)
	require.Equal(t, "citywatch/alerts/ward-b/HighBodyTemperature", msgs[1].topic)
	require.Empty(t, msgs[1].payload, "resolve clears the retained message")
	require.True(t, msgs[1].retain)
	require.Error(t, (&MQTTPublisher{}).Notify(context.Background(), c))
}

func TestMQTTReceiverThroughOutbox(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	b := &fakeBroker{fail: errors.New("broker down")}
	o, err := NewOutbox(testConfig(Config{Receivers: []Receiver{{Name: "mqtt", Format: FormatMQTT}}}), Deps{DB: db, MQTT: b, Clock: clk})
	require.NoError(t, err)
	require.NoError(t, o.Start())
	defer o.Close()
	enqueue(t, db, o, testChange("Flood"))
	require.Eventually(t, func() bool {
		d := deliveries(t, o, DeliveryFilter{})
		return len(d) == 1 && d[0].Attempts >= 1
	}, waitFor, tick)
	require.Contains(t, deliveries(t, o, DeliveryFilter{})[0].LastError, "broker down")
	b.mu.Lock()
	b.fail = nil
	b.mu.Unlock()
	require.Eventually(t, func() bool {
		clk.Advance(time.Second)
		return countStatus(t, o, "mqtt", StatusDelivered) == 1
	}, waitFor, tick)
	require.Equal(t, "citywatch/alerts/siteA/Flood", b.all()[0].topic)
}
