package ward

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckInCheckOut(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Config{})
	st := e.ward.Store()
	r := e.room(t, "site-a", "101", "wearable-001")

	occ, err := st.CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID, Name: "Jan Novak", Contact: "+420 600 000 000"}, "nurse1")
	require.NoError(t, err)
	assert.Regexp(t, `^Q-[0-9A-F]{8}$`, occ.CaseID, "a pseudonymous case id by default")
	assert.Equal(t, StatusActive, occ.Status)
	assert.Equal(t, "nurse1", occ.StatusBy)
	assert.Equal(t, e.clock.Now().Add(14*24*time.Hour), occ.PlannedEnd)
	require.NotNil(t, occ.Personal)

	plain, err := st.Occupancy(ctx, "site-a", occ.ID, false)
	require.NoError(t, err)
	assert.Nil(t, plain.Personal, "personal fields only when asked for")

	_, err = st.CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID}, "nurse1")
	assert.ErrorIs(t, err, ErrConflict, "one active occupancy per room")
	_, err = st.CheckIn(ctx, "site-b", CheckIn{RoomID: r.ID}, "nurse1")
	assert.ErrorIs(t, err, ErrNotFound, "a room of another site is not found")
	_, err = st.Occupancy(ctx, "site-b", occ.ID, true)
	assert.ErrorIs(t, err, ErrNotFound, "an occupancy of another site is not found")
	_, err = st.CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID, CaseID: "bad id/1"}, "nurse1")
	assert.ErrorIs(t, err, ErrInvalid)

	e.clock.Set(e.clock.Now().Add(time.Hour))
	out, err := st.SetStatus(ctx, "site-a", occ.ID, StatusReleased, "nurse2")
	require.NoError(t, err)
	assert.Equal(t, StatusReleased, out.Status)
	assert.Equal(t, "nurse2", out.StatusBy)
	assert.Equal(t, e.clock.Now(), out.StatusAt)
	_, err = st.SetStatus(ctx, "site-a", occ.ID, StatusHospitalised, "nurse2")
	assert.ErrorIs(t, err, ErrConflict, "an ended occupancy cannot change again")

	again, err := st.CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID, CaseID: "Q-NEXT"}, "nurse1")
	require.NoError(t, err, "the room is free after the release")
	assert.Equal(t, "Q-NEXT", again.CaseID)
}

func TestManualReadingValidation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Config{})
	st := e.ward.Store()
	r := e.room(t, "site-a", "101", "wearable-001")
	occ, err := st.CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID}, "nurse1")
	require.NoError(t, err)
	for _, tc := range []struct {
		m    ManualReading
		want error
	}{
		{ManualReading{Value: 36.6}, nil},
		{ManualReading{Metric: MetricHeartRate, Value: 80}, nil},
		{ManualReading{Value: 366}, ErrInvalid},
		{ManualReading{Metric: "co2", Value: 400}, ErrInvalid},
		{ManualReading{Value: 36.6, Time: e.clock.Now().Add(time.Hour)}, ErrInvalid},
		{ManualReading{Value: 36.6, Round: e.clock.Now().Add(48 * time.Hour)}, ErrInvalid},
	} {
		tc.m.OccupancyID = occ.ID
		_, err := st.AddManualReading(ctx, "site-a", tc.m)
		if tc.want == nil {
			assert.NoError(t, err, "%+v", tc.m)
		} else {
			assert.ErrorIs(t, err, tc.want, "%+v", tc.m)
		}
	}
	_, err = st.AddManualReading(ctx, "site-b", ManualReading{OccupancyID: occ.ID, Value: 36.6})
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestDeviceBoundToOneRoom(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Config{})
	e.room(t, "site-a", "101", "wearable-001")
	_, err := e.ward.Store().CreateRoom(ctx, Room{Site: "site-a", Name: "102", Bindings: Bindings{Wearables: []string{"wearable-001"}}})
	assert.ErrorIs(t, err, ErrConflict)
	r3, err := e.ward.Store().CreateRoom(ctx, Room{Site: "site-a", Name: "103"})
	require.NoError(t, err)
	assert.ErrorIs(t, e.ward.Store().SetBindings(ctx, "site-a", r3.ID, Bindings{Sensors: []string{"wearable-001"}}), ErrConflict)
	_, err = e.ward.Store().CreateRoom(ctx, Room{Site: "site-b", Name: "101", Bindings: Bindings{Wearables: []string{"wearable-001"}}})
	assert.NoError(t, err, "another site's device of the same id")
}
