package ward

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/deploy/rules"
)

// TestRoomSensorAlertsSuppressedWhenVacant: the default and demo packs' RoomCO2High name the room of a room sensor
// bound to an occupied room (with a wearable or without one), are suppressed for a sensor bound to a room with
// no active occupant, and alert as before for a sensor bound to no room; a release suppresses the room's alert
// at once.
func TestRoomSensorAlertsSuppressedWhenVacant(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, now, Config{})
	st := e.ward.Store()
	room := func(name string, b Bindings) Room {
		r, err := st.CreateRoom(ctx, Room{Site: "site-a", Name: name, Bindings: b})
		require.NoError(t, err)
		return r
	}
	withWearable := room("101", Bindings{Wearables: []string{"wearable-001"}, Sensors: []string{"room-101"}})
	room("102", Bindings{Wearables: []string{"wearable-002"}, Sensors: []string{"room-102"}})
	noWearable := room("103", Bindings{Sensors: []string{"room-103"}})
	occ, err := st.CheckIn(ctx, "site-a", CheckIn{RoomID: withWearable.ID, CaseID: "Q-1"}, "nurse")
	require.NoError(t, err)
	_, err = st.CheckIn(ctx, "site-a", CheckIn{RoomID: noWearable.ID, CaseID: "Q-3"}, "nurse")
	require.NoError(t, err)
	for _, d := range []string{"room-101", "room-102", "room-103", "room-999"} {
		e.wearable(t, "site-a", d, "co2", now.Add(-time.Minute), now.Add(time.Second), 1500)
	}
	require.NoError(t, e.ward.Evaluate(ctx))

	for _, pack := range []struct{ name, body string }{{rules.DefaultName, rules.Default}, {rules.DemoName, rules.Demo}} {
		assert.Equal(t, []string{
			"device=room-101,room=101,site=site-a",
			"device=room-103,room=103,site=site-a",
			"device=room-999,site=site-a",
		}, e.eval(t, packExpr(t, pack.name, pack.body, "RoomCO2High")), pack.name)
	}

	e.clock.Set(now.Add(10 * time.Second))
	_, err = st.SetStatus(ctx, "site-a", occ.ID, StatusReleased, "nurse")
	require.NoError(t, err)
	e.wearable(t, "site-a", "room-101", "co2", now.Add(time.Second), now.Add(11*time.Second), 1500)
	require.NoError(t, e.ward.Evaluate(ctx))
	assert.Equal(t, []string{"device=room-103,room=103,site=site-a", "device=room-999,site=site-a"},
		e.eval(t, packExpr(t, rules.DefaultName, rules.Default, "RoomCO2High")), "after the release of room 101")
}
