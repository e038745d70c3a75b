package sim

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWardRooms(t *testing.T) {
	rooms := WardRooms(SensorsConfig{Devices: 20})
	assert.Equal(t, []WardRoom{
		{Site: "q-hotel-1", Name: "1-01", Wearable: "wearable-001", Sensor: "room-001"},
		{Site: "q-hotel-1", Name: "1-02", Wearable: "wearable-003", Sensor: "room-003"},
		{Site: "q-hotel-1", Name: "1-03", Wearable: "wearable-005"},
		{Site: "q-hotel-2", Name: "2-01", Wearable: "wearable-002", Sensor: "room-002"},
		{Site: "q-hotel-2", Name: "2-02", Wearable: "wearable-004", Sensor: "room-004"},
		{Site: "q-hotel-2", Name: "2-03", Wearable: "wearable-006"},
	}, rooms)
}

// TestLeaveFault: after the delay the leaving wearable's rssi falls by about LeaveRSSIDrop; the others' do not.
func TestLeaveFault(t *testing.T) {
	g, err := NewSensorGenerator(SensorsConfig{Devices: 4, Faults: Faults{LeaveDevice: "wearable-001", LeaveAfter: 10 * time.Second}})
	require.NoError(t, err)
	t0 := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	rssi := map[string][]float64{}
	for i := 0; i < 4*30; i++ {
		now := t0.Add(time.Duration(i/4) * time.Second)
		m, ok := g.Next(now)
		require.True(t, ok)
		v := field(t, string(m.Payload), "rssi")
		rssi[m.Device.ID] = append(rssi[m.Device.ID], v)
	}
	w := rssi["wearable-001"]
	before, after := w[9], w[len(w)-1]
	assert.Less(t, after, before-LeaveRSSIDrop+5, "rssi of the leaving wearable: %v", w)
	o := rssi["wearable-002"]
	assert.InDelta(t, o[9], o[len(o)-1], 10, "rssi of another wearable: %v", o)
}

// field reads a numeric field of a flat JSON payload.
func field(t *testing.T, payload, name string) float64 {
	t.Helper()
	_, rest, ok := strings.Cut(payload, `"`+name+`":`)
	require.True(t, ok, payload)
	end := strings.IndexAny(rest, ",}")
	v, err := strconv.ParseFloat(rest[:end], 64)
	require.NoError(t, err)
	return v
}

// TestLeaveThenSilent: with leave-silent the leaving wearable reports away (rssi down) after LeaveAfter and
// nothing from LeaveAfter+LeaveSilentAfter on; the other devices keep their slots.
func TestLeaveThenSilent(t *testing.T) {
	g, err := NewSensorGenerator(SensorsConfig{Devices: 4, Faults: Faults{LeaveDevice: "wearable-001",
		LeaveAfter: 10 * time.Second, LeaveSilentAfter: 5 * time.Second}})
	require.NoError(t, err)
	t0 := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	var rssi []float64
	last := time.Duration(-1)
	others := 0
	for i := 0; i < 4*30; i++ {
		el := time.Duration(i/4) * time.Second
		m, ok := g.Next(t0.Add(el))
		if !ok {
			continue
		}
		if m.Device.ID != "wearable-001" {
			others++
			continue
		}
		rssi = append(rssi, field(t, string(m.Payload), "rssi"))
		last = el
	}
	assert.Equal(t, 3*30, others, "the other devices' readings")
	assert.Equal(t, 14*time.Second, last, "the leaving wearable's last reading (silent from 15s)")
	require.Len(t, rssi, 15)
	assert.Less(t, rssi[14], rssi[9]-LeaveRSSIDrop+5, "away before silent: %v", rssi)
}

func TestWithWardLeave(t *testing.T) {
	tests := []struct {
		name string
		in   SensorsConfig
		want Faults
	}{
		{name: "default fleet", in: SensorsConfig{}, want: Faults{LeaveDevice: WardLeaveDevice, LeaveAfter: WardLeaveAfter,
			LeaveSilentAfter: WardLeaveSilentAfter}},
		{name: "other faults kept", in: SensorsConfig{Faults: Faults{FeverDevice: "wearable-001"}}, want: Faults{FeverDevice: "wearable-001",
			LeaveDevice: WardLeaveDevice, LeaveAfter: WardLeaveAfter, LeaveSilentAfter: WardLeaveSilentAfter}},
		{name: "the user's leave fault wins", in: SensorsConfig{Faults: Faults{LeaveDevice: "wearable-001", LeaveAfter: time.Second}},
			want: Faults{LeaveDevice: "wearable-001", LeaveAfter: time.Second}},
		{name: "no such wearable", in: SensorsConfig{Devices: 2}, want: Faults{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := WithWardLeave(tc.in)
			assert.Equal(t, tc.want, got.Faults)
			require.NoError(t, got.Validate())
		})
	}
}
