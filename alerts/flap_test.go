package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/alerts/notify"
)

// flapCycle is one camera flap: offline at off, fired by off+10s (For 10s), online at off+20s, resolved (or
// kept, when flapping) at off+21s. Cycles are 30s apart, so 30 of them take 15 minutes.
const flapCycle = 30 * time.Second

func flapRule(p FlapPolicy) Rule {
	return Rule{Alert: "CameraOffline", For: 10 * sec, Flap: p,
		Event: &EventSpec{Kind: EventCameraOffline, Match: map[string]string{"site": "q-hotel-1"}}}
}

// flap runs cycles n of flaps from cycle `from` and returns the notifications sent.
func (e *env) flap(from, n int) []notify.Change {
	for i := from; i < from+n; i++ {
		off := time.Duration(i) * flapCycle
		e.m.Event(camState("cam1", "offline", off))
		e.at(off + sec)
		e.at(off + 10*sec)
		e.m.Event(camState("cam1", "online", off+20*sec))
		e.at(off + 21*sec)
	}
	return e.outbox.take()
}

// history returns every alert of cam1, newest first.
func (e *env) history() []Alert {
	e.t.Helper()
	as, err := e.m.Alerts(context.Background(), AlertFilter{Limit: 1000})
	require.NoError(e.t, err)
	return as
}

func flapKinds(cs []notify.Change) []string {
	var out []string
	for _, c := range cs {
		k := c.State
		if c.Reminder {
			k = "reminder"
		}
		if c.Flapping {
			k += "+flapping"
		}
		out = append(out, k)
	}
	return out
}

func TestFlappingCameraIsOneAlertWithBoundedNotifications(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{flapRule(FlapPolicy{})}})
	cs := e.flap(0, 30)
	// Two ordinary fire/resolve cycles, then the third fire within 10m starts flapping: one notification for
	// the other 28 flaps.
	assert.Equal(t, []string{"firing", "resolved", "firing", "resolved", "firing+flapping"}, flapKinds(cs))
	active := e.active("CameraOffline", "camera")
	require.Len(t, active, 1)
	a := active["cam1"]
	assert.Equal(t, StateFiring, a.State)
	assert.True(t, a.Flapping)
	assert.Equal(t, 30, a.FlapCount, "every fire is counted: 3 to detect, 27 returns while flapping")
	assert.Len(t, e.history(), 3, "2 plain alerts before detection, then one flapping alert for the rest")

	// Steady (online) for less than the window: still flapping, nothing sent.
	last := 29*flapCycle + 21*sec // the evaluation that saw the camera back online
	e.at(last + 9*time.Minute)
	assert.True(t, e.active("CameraOffline", "camera")["cam1"].Flapping)
	assert.Empty(t, e.outbox.take())
	// A full window without a change: it settles and resolves, notified once.
	e.at(last + 10*time.Minute)
	assert.Empty(t, e.active("CameraOffline", "camera"))
	cs = e.outbox.take()
	require.Equal(t, []string{"resolved"}, flapKinds(cs))
	assert.Equal(t, cs[0].Fingerprint, a.Fingerprint)
	h := e.history()
	require.Len(t, h, 3)
	assert.Equal(t, StateResolved, h[0].State)
	assert.False(t, h[0].Flapping)
}

func TestFlappingSettlesFiring(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{flapRule(FlapPolicy{Count: 2, Window: 5 * time.Minute})}})
	assert.Equal(t, []string{"firing", "resolved", "firing+flapping"}, flapKinds(e.flap(0, 2)))
	// The camera goes down for good: the alert stays firing, then settles as a plain firing alert.
	off := 2 * flapCycle
	e.m.Event(camState("cam1", "offline", off))
	e.at(off + sec)
	e.at(off + sec + 5*time.Minute - sec)
	assert.True(t, e.active("CameraOffline", "camera")["cam1"].Flapping)
	e.at(off + 5*time.Minute + sec)
	a := e.active("CameraOffline", "camera")["cam1"]
	assert.Equal(t, StateFiring, a.State)
	assert.False(t, a.Flapping)
	assert.Equal(t, []string{"reminder"}, flapKinds(e.outbox.take()), "one notice that it settled, still firing")
	e.at(off + 6*time.Minute)
	assert.Empty(t, e.outbox.take())
}

func TestFlapPolicies(t *testing.T) {
	for _, tc := range flapPolicyCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{Rules: []Rule{flapRule(tc.rule)}, Flap: tc.cfg})
			cs := e.flap(0, 30)
			e.at(30*flapCycle + 10*time.Minute)
			cs = append(cs, e.outbox.take()...)
			assert.Len(t, cs, tc.notifications)
			assert.Len(t, e.history(), tc.alerts)
		})
	}
}

var flapPolicyCases = []struct {
	name                  string
	cfg, rule             FlapPolicy
	notifications, alerts int
}{
	{"default", FlapPolicy{}, FlapPolicy{}, 6, 3},
	{"notify none mutes the episode", FlapPolicy{}, FlapPolicy{Notify: FlapNotifyNone}, 4, 3},
	{"off in config: every flap notified", FlapPolicy{Count: -1}, FlapPolicy{}, 60, 30},
	{"rule overrides config", FlapPolicy{Count: -1}, FlapPolicy{Count: 5}, 10, 5},
	{"short window never flaps", FlapPolicy{}, FlapPolicy{Window: 50 * time.Second}, 60, 30},
}

func TestFlappingSurvivesRestart(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{flapRule(FlapPolicy{})}})
	e.flap(0, 5)
	e.start(Config{Rules: e.m.cfg.Rules})
	e.flap(5, 5)
	a := e.active("CameraOffline", "camera")["cam1"]
	assert.True(t, a.Flapping)
	assert.Equal(t, 10, a.FlapCount)
	assert.Len(t, e.history(), 3)
	assert.Empty(t, e.outbox.take())
}

func TestParseRuleFileFlapKeys(t *testing.T) {
	rules, err := ParseRuleFile("r.yaml", []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n"+
		"    flap_count: 4\n    flap_window: 15m\n    flap_notify: none\n"))
	require.NoError(t, err)
	assert.Equal(t, FlapPolicy{Count: 4, Window: 15 * time.Minute, Notify: FlapNotifyNone}, rules[0].Flap)
}
