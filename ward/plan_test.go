package ward

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSetRoomPosition: a room is placed, moved and taken off the plan within its site; another site's room,
// a position off the plan or half a position is refused and changes nothing.
func TestSetRoomPosition(t *testing.T) {
	e := newEnv(t, time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), Config{})
	ctx := context.Background()
	st := e.ward.Store()
	a := e.room(t, "q1", "101", "w1")
	b := e.room(t, "q2", "201", "w2")
	f := func(v float64) *float64 { return &v }

	r, err := st.SetRoomPosition(ctx, "q1", a.ID, f(0.25), f(0.75))
	require.NoError(t, err)
	require.Equal(t, 0.25, *r.PlanX)
	require.Equal(t, 0.75, *r.PlanY)
	for _, c := range []struct {
		name string
		site string
		id   int64
		x, y *float64
		want error
	}{
		{"another site's room", "q1", b.ID, f(0.5), f(0.5), ErrNotFound},
		{"missing room", "q1", 999, f(0.5), f(0.5), ErrNotFound},
		{"off the plan", "q1", a.ID, f(1.01), f(0.5), ErrInvalid},
		{"negative", "q1", a.ID, f(0.5), f(-0.1), ErrInvalid},
		{"NaN", "q1", a.ID, f(math.NaN()), f(0.5), ErrInvalid},
		{"x without y", "q1", a.ID, f(0.5), nil, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := st.SetRoomPosition(ctx, c.site, c.id, c.x, c.y)
			assert.ErrorIs(t, err, c.want)
		})
	}
	r, err = st.Room(ctx, "q1", a.ID)
	require.NoError(t, err)
	assert.Equal(t, 0.25, *r.PlanX, "refused placements changed nothing")
	r, err = st.Room(ctx, "q2", b.ID)
	require.NoError(t, err)
	assert.Nil(t, r.PlanX)

	r, err = st.SetRoomPosition(ctx, "q1", a.ID, nil, nil)
	require.NoError(t, err)
	assert.Nil(t, r.PlanX)
	assert.Nil(t, r.PlanY)
}

// TestPlanRooms: each room's marker state is vacant without an active occupant, occupied with one, missing
// when the occupant has no reading for the last closed round, and fever when that round's reading is febrile.
func TestPlanRooms(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC) // the 08:00 round closed at 08:30
	e := newEnv(t, now, Config{})
	ctx := context.Background()
	st := e.ward.Store()
	rooms := map[string]Room{}
	for _, n := range []string{"101", "102", "103", "104"} {
		rooms[n] = e.room(t, "q1", n, "w"+n)
	}
	checkIn := func(room string, start time.Time) {
		_, err := st.CheckIn(ctx, "q1", CheckIn{RoomID: rooms[room].ID, CaseID: "Q-" + room, Name: "Person " + room, Start: start}, "nurse")
		require.NoError(t, err)
	}
	round := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	checkIn("102", now.Add(-time.Minute))  // after the round: nothing due
	checkIn("103", now.Add(-48*time.Hour)) // missed it
	checkIn("104", now.Add(-48*time.Hour))
	e.wearable(t, "q1", "w104", MetricBodyTemperature, round.Add(-time.Minute), round.Add(time.Minute), 38.7)

	got, err := e.ward.PlanRooms(ctx, "q1")
	require.NoError(t, err)
	states := map[string]PlanRoom{}
	for _, r := range got {
		states[r.Name] = r
	}
	assert.Equal(t, PlanVacant, states["101"].State)
	assert.Empty(t, states["101"].CaseID)
	assert.Equal(t, PlanOccupied, states["102"].State)
	assert.Equal(t, "Q-102", states["102"].CaseID)
	assert.Equal(t, PlanMissing, states["103"].State)
	assert.Equal(t, "2026-12-07 08:00", states["103"].Round)
	assert.Equal(t, PlanFever, states["104"].State)
	for _, r := range got {
		assert.NotContains(t, r.CaseID, "Person", "the plan names case ids, never people")
	}
}
