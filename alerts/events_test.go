package alerts

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func camState(camera, state string, at time.Duration) Event {
	return Event{Kind: KindCameraState, Labels: map[string]string{"camera": camera, "site": "q-hotel-1",
		"state": state}, Time: t0.Add(at)}
}

func TestEventCameraOffline(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "CameraOffline", For: 30 * sec,
		Event:       &EventSpec{Kind: EventCameraOffline, Match: map[string]string{"site": "q-hotel-1"}},
		Annotations: map[string]string{"summary": "{{ $labels.camera }} offline for {{ humanizeDuration $value }}"}}}})
	e.clock.Set(t0)
	e.m.Event(camState("cam1", "offline", 0))
	e.m.Event(camState("cam2", "stalled", 0))
	e.m.Event(Event{Kind: KindCameraState, Labels: map[string]string{"camera": "cam9", "site": "elsewhere",
		"state": "offline"}, Time: t0})
	e.at(sec)
	assert.Equal(t, map[string]State{"cam1": StatePending, "cam2": StatePending}, states(e.active("CameraOffline", "camera")))
	e.m.Event(camState("cam2", "online", 10*sec)) // cam2 recovered before `for`
	e.at(29 * sec)
	assert.Equal(t, map[string]State{"cam1": StatePending}, states(e.active("CameraOffline", "camera")))
	e.at(30 * sec)
	a := e.active("CameraOffline", "camera")["cam1"]
	assert.Equal(t, StateFiring, a.State)
	assert.Equal(t, t0, a.ActiveAt)
	assert.Equal(t, "cam1 offline for 30s", a.Annotations["summary"])
	assert.Equal(t, map[string]string{"alertname": "CameraOffline", "camera": "cam1", "site": "q-hotel-1"}, a.Labels)
	assert.Equal(t, []string{"CameraOffline/q-hotel-1/firing"}, kinds(e.outbox.take()))

	e.m.Event(camState("cam1", "unauthorized", 40*sec)) // still down, another reason: same alert
	e.at(45 * sec)
	assert.Empty(t, e.outbox.take())
	// A restart keeps the offline state: the alert neither resolves nor re-fires.
	e.start(Config{Rules: e.m.cfg.Rules})
	e.at(50 * sec)
	assert.Equal(t, map[string]State{"cam1": StateFiring}, states(e.active("CameraOffline", "camera")))
	assert.Empty(t, e.outbox.take())

	e.m.Event(camState("cam1", "online", 90*sec))
	e.at(91 * sec)
	cs := e.outbox.take()
	require.Equal(t, []string{"CameraOffline/q-hotel-1/resolved"}, kinds(cs))
	assert.Equal(t, 91*sec, cs[0].OutageDuration)
}

func TestEventDeviceSilent(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "DeviceSilent",
		Event: &EventSpec{Kind: EventDeviceSilent, Window: time.Minute}}}})
	seen := func(dev string, at time.Duration) {
		e.m.Event(Event{Kind: KindDeviceSeen, Labels: map[string]string{"site": "s", "device": dev, "district": "d"},
			Time: t0.Add(at)})
	}
	seen("w1", 0)
	seen("w2", 0)
	e.at(30 * sec)
	seen("w2", 30*sec)
	e.at(59 * sec)
	assert.Empty(t, e.active("DeviceSilent", "device"))
	e.at(60 * sec)
	a := e.active("DeviceSilent", "device")
	assert.Equal(t, map[string]State{"w1": StateFiring}, states(a))
	assert.Equal(t, t0.Add(time.Minute), a["w1"].ActiveAt)
	assert.Equal(t, map[string]string{"alertname": "DeviceSilent", "device": "w1", "site": "s", "district": "d"}, a["w1"].Labels)
	e.at(90 * sec)
	assert.Equal(t, map[string]State{"w1": StateFiring, "w2": StateFiring}, states(e.active("DeviceSilent", "device")))
	seen("w1", 100*sec)
	e.at(100 * sec)
	assert.Equal(t, map[string]State{"w2": StateFiring}, states(e.active("DeviceSilent", "device")))
	assert.ElementsMatch(t, []string{"DeviceSilent/s/firing", "DeviceSilent/s/firing", "DeviceSilent/s/resolved"},
		kinds(e.outbox.take()))
}

func TestEventCameraTamperAndMotion(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{
		{Alert: "Tamper", Event: &EventSpec{Kind: EventCameraTamper}},
		{Alert: "NightMotion", Event: &EventSpec{Kind: EventZoneMotion, Match: map[string]string{"zone": "door"},
			Schedule: "22:00-06:00", Timezone: "UTC", Window: time.Minute}},
	}})
	lbl := map[string]string{"camera": "c1", "site": "s", "kind": "covered", "zone": "door"}
	e.m.Event(Event{Kind: KindCameraTamper, Labels: lbl, Value: 1, Time: t0})
	e.m.Event(Event{Kind: KindMotion, Labels: lbl, Value: 0.4, Time: t0}) // 12:00: outside the schedule
	e.at(sec)
	assert.Equal(t, map[string]State{"c1": StateFiring}, states(e.active("Tamper", "camera")))
	assert.Empty(t, e.active("NightMotion", "camera"))
	e.m.Event(Event{Kind: KindCameraTamper, Labels: lbl, Value: 0, Time: t0.Add(2 * sec)})
	e.at(3 * sec)
	assert.Empty(t, e.active("Tamper", "camera"))

	night := time.Date(2026, 11, 27, 23, 30, 0, 0, time.UTC)
	e.m.Event(Event{Kind: KindMotion, Labels: lbl, Value: 0.4, Time: night})
	e.clock.Set(night.Add(sec))
	e.m.evalOnce(t.Context())
	assert.Equal(t, map[string]State{"c1": StateFiring}, states(e.active("NightMotion", "camera")))
	e.clock.Set(night.Add(time.Minute))
	e.m.evalOnce(t.Context())
	assert.Empty(t, e.active("NightMotion", "camera"), "resolves a window after the last motion")
}

func TestEventIngestRejected(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "Rejected", Event: &EventSpec{Kind: EventIngestRejected,
		Window: time.Minute, Threshold: 10, By: []string{"reason"}}}}})
	for i := range 9 {
		e.m.Event(Event{Kind: KindIngestRejected, Labels: map[string]string{"reason": "bad_json"}, Time: t0.Add(time.Duration(i) * sec)})
	}
	e.at(10 * sec)
	assert.Empty(t, e.active("Rejected", "reason"))
	e.m.Event(Event{Kind: KindIngestRejected, Labels: map[string]string{"reason": "bad_json"}, Time: t0.Add(10 * sec)})
	e.at(11 * sec)
	a := e.active("Rejected", "reason")["bad_json"]
	assert.Equal(t, StateFiring, a.State)
	assert.Equal(t, 10.0, a.Value)
	e.at(61 * sec) // the first events left the window
	assert.Empty(t, e.active("Rejected", "reason"))
}

func TestEventsDroppedWhenQueueFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(Config{EventQueueSize: 2, DBPath: t.TempDir() + "/a.db"}, Deps{Outbox: &fakeOutbox{}, Registerer: reg})
	require.NoError(t, err)
	defer m.Close()
	for range 5 {
		m.Event(Event{Kind: KindDeviceSeen})
	}
	assert.Equal(t, 3.0, testutil.ToFloat64(m.metrics.eventsDropped))
}

func TestEventKeysBounded(t *testing.T) {
	e := newEnv(t, Config{MaxEventKeys: 2, Rules: []Rule{{Alert: "DeviceSilent",
		Event: &EventSpec{Kind: EventDeviceSilent, Window: time.Minute}}}})
	for _, d := range []string{"a", "b", "c"} {
		e.m.Event(Event{Kind: KindDeviceSeen, Labels: map[string]string{"device": d}, Time: t0})
	}
	e.at(0)
	assert.Equal(t, 1.0, testutil.ToFloat64(e.m.metrics.eventsDropped))
}
