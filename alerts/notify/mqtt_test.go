package notify

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

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
	require.Equal(t, "citywatch/alerts/ward_b__/CameraDown/f3a1c2d4e5b6a7c8", msgs[0].topic)
	require.True(t, msgs[0].retain)
	require.Equal(t, byte(1), msgs[0].qos)
	var p Payload
	require.NoError(t, json.Unmarshal(msgs[0].payload, &p))
	require.Equal(t, "firing", p.State)
	require.Equal(t, "citywatch/alerts/ward-b/HighBodyTemperature/0a0b0c0d0e0f1011", msgs[1].topic)
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
	require.Regexp(t, `^citywatch/alerts/siteA/Flood/Flood-`, b.all()[0].topic)
}

// TestPublishMQTTEveryChange: with PublishMQTT (notify.mqtt.enabled) every change is published on the broker
// besides what the routes send to receivers, with no receiver configured at all too; each alert has its own
// retained topic, so the resolve of one alert does not clear another of the same name and site.
func TestPublishMQTTEveryChange(t *testing.T) {
	for _, withHook := range []bool{false, true} {
		db, _ := openTestDB(t)
		b := &fakeBroker{}
		cfg := Config{PublishMQTT: true}
		var h *hook
		if withHook {
			h = newHook(t)
			cfg.Receivers = []Receiver{h.receiver("pager")}
		}
		o, err := NewOutbox(testConfig(cfg), Deps{DB: db, MQTT: b})
		require.NoError(t, err)
		require.NoError(t, o.Start())
		t.Cleanup(o.Close)
		one, two := testChange("Flood"), testChange("Flood")
		enqueue(t, db, o, one, two)
		require.Eventually(t, func() bool { return countStatus(t, o, MQTTReceiverName, StatusDelivered) == 2 }, waitFor, tick)
		resolved := one
		resolved.State, resolved.EndsAt = "resolved", one.StartsAt.Add(time.Minute)
		enqueue(t, db, o, resolved)
		require.Eventually(t, func() bool { return countStatus(t, o, MQTTReceiverName, StatusDelivered) == 3 }, waitFor, tick)

		retained := map[string]string{} // topic → last retained payload, as a broker keeps it
		for _, m := range b.all() {
			require.True(t, m.retain)
			retained[m.topic] = string(m.payload)
		}
		require.Len(t, retained, 2, "one topic per alert")
		require.Empty(t, retained["citywatch/alerts/siteA/Flood/"+one.Fingerprint], "the resolve clears its own topic")
		var p Payload
		require.NoError(t, json.Unmarshal([]byte(retained["citywatch/alerts/siteA/Flood/"+two.Fingerprint]), &p))
		require.Equal(t, "firing", p.State)
		require.Equal(t, two.Fingerprint, p.Fingerprint)
		require.Equal(t, "siteA", p.Site)
		if withHook {
			require.Eventually(t, func() bool { return countStatus(t, o, "pager", StatusDelivered) == 3 }, waitFor, tick)
		}
	}
	db, _ := openTestDB(t)
	_, err := NewOutbox(testConfig(Config{PublishMQTT: true}), Deps{DB: db})
	require.Error(t, err, "PublishMQTT needs a broker")
}

// topicCases are label values and the topic segment they become: a label can never add a level, a wildcard
// or bytes a broker refuses.
var topicCases = []struct{ in, want string }{
	{"ward-b", "ward-b"},
	{"", "_"},
	{"a/b", "a_b"},
	{"+", "_"},
	{"#", "_"},
	{"nul\x00", "nul_"},
	{"line\nbreak", "line_break"},
	{"bad\xffutf8", "bad_utf8"},
	{"Zürich", "Zürich"},
}

func TestMQTTTopicSegments(t *testing.T) {
	m := &MQTTPublisher{}
	for _, tc := range topicCases {
		got := m.Topic(Change{Name: "A", Fingerprint: "fp", Labels: map[string]string{"site": tc.in}})
		require.Equal(t, "citywatch/alerts/"+tc.want+"/A/fp", got, "site %q", tc.in)
	}
}

func FuzzMQTTTopic(f *testing.F) {
	for _, tc := range topicCases {
		f.Add(tc.in, tc.in, tc.in)
	}
	f.Fuzz(func(t *testing.T, site, alert, fp string) {
		topic := (&MQTTPublisher{}).Topic(Change{Name: alert, Fingerprint: fp, Labels: map[string]string{"site": site}})
		if !utf8.ValidString(topic) || strings.ContainsAny(topic, "+#\x00") {
			t.Fatalf("topic %q has a wildcard, NUL or invalid UTF-8", topic)
		}
		if levels := strings.Split(topic, "/"); len(levels) != 5 || slices.Contains(levels, "") {
			t.Fatalf("topic %q does not have exactly site, alert and fingerprint levels", topic)
		}
	})
}
