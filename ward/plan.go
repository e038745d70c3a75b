package ward

import (
	"context"
	"fmt"
	"math"
)

// SetRoomPosition places room id of site on the site plan at x, y (fractions of the plan's width and height,
// 0 to 1 from its top left corner), or takes it off the plan when both are nil. It returns the room;
// ErrNotFound for a room that is missing or at another site, ErrInvalid for a position off the plan or only
// one coordinate.
func (s *Store) SetRoomPosition(ctx context.Context, site string, id int64, x, y *float64) (Room, error) {
	if (x == nil) != (y == nil) {
		return Room{}, invalid("x and y go together")
	}
	for _, p := range []*float64{x, y} {
		if p != nil && (math.IsNaN(*p) || *p < 0 || *p > 1) {
			return Room{}, invalid("x and y are fractions of the plan, 0 to 1; got %v", *p)
		}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE ward_rooms SET plan_x = ?, plan_y = ? WHERE site = ? AND id = ?`, x, y, site, id)
	if err != nil {
		return Room{}, wrap("room position", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return Room{}, wrap("room position", err)
		}
		return Room{}, fmt.Errorf("%w: room %d", ErrNotFound, id)
	}
	return s.Room(ctx, site, id)
}

// Room states on the site plan, worst first: a febrile reading in the last closed round, an occupant missing
// from it, an active occupant, nobody.
const (
	PlanFever    = "fever"
	PlanMissing  = "missing"
	PlanOccupied = "occupied"
	PlanVacant   = "vacant"
)

// PlanRoom is a room with its live state, for the site plan's markers.
type PlanRoom struct {
	Room
	// State is PlanFever, PlanMissing, PlanOccupied or PlanVacant.
	State string `json:"state"`
	// CaseID is the active occupant's pseudonymous case id (never a name: the plan is for every reader of the
	// site); Round labels the last closed round the state speaks of ("08:00").
	CaseID string `json:"case_id,omitempty"`
	Round  string `json:"round,omitempty"`
}

// PlanRooms returns every room of site with its state: the active occupant and their result in the site's
// last closed round (missing, or done with a febrile reading).
func (w *Ward) PlanRooms(ctx context.Context, site string) ([]PlanRoom, error) {
	rooms, occs, err := w.roomsAndActive(ctx, site)
	if err != nil {
		return nil, err
	}
	byRoom := map[int64]Occupancy{}
	for _, o := range occs {
		byRoom[o.RoomID] = o
	}
	results := map[int64]RoundResult{}
	sc := w.Site(site)
	now := w.clk.Now()
	label := ""
	if round, ok := sc.LastClosed(now); ok && len(occs) > 0 {
		rows, err := w.roundRows(ctx, site, round, now, rooms, occs)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			results[row.OccupancyID] = row.Result
		}
		label = roundLabel(round, sc.Location)
	}
	out := make([]PlanRoom, len(rooms))
	for i, r := range rooms {
		out[i] = PlanRoom{Room: r, State: PlanVacant}
		o, ok := byRoom[r.ID]
		if !ok {
			continue
		}
		out[i].State, out[i].CaseID = PlanOccupied, o.CaseID
		res, ok := results[o.ID]
		switch {
		case ok && res.Febrile:
			out[i].State, out[i].Round = PlanFever, label
		case ok && res.State == RoundMissing:
			out[i].State, out[i].Round = PlanMissing, label
		}
	}
	return out, nil
}
