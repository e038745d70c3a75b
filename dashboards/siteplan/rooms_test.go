package siteplan

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// fakeWardRooms is the ward's rooms as the plan sees them: room 1 (101) and 2 (102) of site-a, 3 (201) of
// site-b; room 101 occupied by case Q-A1 who missed the last round.
type fakeWardRooms struct {
	mu    sync.Mutex
	rooms map[string]*Room
	sites map[string]string
}

func newFakeWardRooms() *fakeWardRooms {
	return &fakeWardRooms{
		rooms: map[string]*Room{"1": {ID: "1", Name: "101", State: "missing", CaseID: "Q-A1", Round: "2026-12-07 08:00"},
			"2": {ID: "2", Name: "102", State: "vacant"}, "3": {ID: "3", Name: "201", State: "occupied", CaseID: "Q-B1"}},
		sites: map[string]string{"1": "site-a", "2": "site-a", "3": "site-b"},
	}
}

func (f *fakeWardRooms) list(_ context.Context, site string) ([]Room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Room
	for _, id := range []string{"1", "2", "3"} {
		if f.sites[id] == site {
			out = append(out, *f.rooms[id])
		}
	}
	return out, nil
}

func (f *fakeWardRooms) place(_ context.Context, site, id string, x, y *float64) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[id]
	if !ok || f.sites[id] != site {
		return "", false, nil
	}
	r.Placed = x != nil
	r.X, r.Y = 0, 0
	if x != nil {
		r.X, r.Y = *x, *y
	}
	return r.Name, true, nil
}

// TestPlanRooms: ward rooms are markers of kind room. Health staff place and move their site's rooms (the ward
// keeps the position), take them off; each change is audited with the room's name; the plan lists placed rooms
// with their live state and case id (never a name), and the others as unplaced. Another site's room is 404
// through this site's path, and a viewer cannot place.
func TestPlanRooms(t *testing.T) {
	db, err := auth.OpenDB(filepath.Join(t.TempDir(), "meta.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	lg, err := audit.New(db, audit.Config{}, audit.Deps{})
	require.NoError(t, err)
	f := newFakeWardRooms()
	p, err := New(Config{}, Deps{DB: db, Audit: lg, Registerer: prometheus.NewRegistry(), Rooms: f.list, PlaceRoom: f.place})
	require.NoError(t, err)
	mux := http.NewServeMux()
	for _, r := range p.Routes() {
		mux.Handle(r.Rule.Key(), r.Handler)
	}
	e := &planEnv{plans: p, mux: mux, log: lg}
	plan := func(who auth.Principal) Plan {
		w := e.do(who, "GET", "/api/plans/site-a", nil, "")
		require.Equal(t, 200, w.Code, w.Body.String())
		var pl Plan
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &pl))
		return pl
	}
	pl := plan(viewerA)
	assert.Empty(t, pl.Rooms)
	assert.Len(t, pl.UnplacedRooms, 2)
	// Another site's plan, rooms and occupants are as unknown as a missing site.
	for _, c := range []struct {
		who  auth.Principal
		path string
	}{{nurseA, "/api/plans/site-b"}, {viewerA, "/api/plans/site-b"}, {operatorB, "/api/plans/site-a"}} {
		w := e.do(c.who, "GET", c.path, nil, "")
		assert.Equal(t, 404, w.Code, "%s %s", c.who.Name, c.path)
		assert.NotContains(t, w.Body.String(), "Q-", "%s %s", c.who.Name, c.path)
	}

	require.Equal(t, 200, e.do(nurseA, "PUT", "/api/plans/site-a/markers/room/1", []byte(`{"x":0.25,"y":0.5}`), "application/json").Code)
	require.Equal(t, 200, e.do(admin, "PUT", "/api/plans/site-a/markers/room/1", []byte(`{"x":0.3,"y":0.6}`), "application/json").Code)
	require.Equal(t, 200, e.do(admin, "PUT", "/api/plans/site-a/markers/room/2", []byte(`{"x":0.9,"y":0.1}`), "application/json").Code)
	pl = plan(viewerA)
	require.Equal(t, []Room{{ID: "1", Name: "101", X: 0.3, Y: 0.6, State: "missing", CaseID: "Q-A1", Round: "2026-12-07 08:00"},
		{ID: "2", Name: "102", X: 0.9, Y: 0.1, State: "vacant"}}, pl.Rooms)
	assert.Empty(t, pl.UnplacedRooms)

	for _, c := range []struct {
		name string
		who  auth.Principal
		path string
		body string
		code int
	}{
		{"another site's room", admin, "/api/plans/site-a/markers/room/3", `{"x":0.5,"y":0.5}`, 404},
		{"a missing room", admin, "/api/plans/site-a/markers/room/99", `{"x":0.5,"y":0.5}`, 404},
		{"not a room id", admin, "/api/plans/site-a/markers/room/1%20OR%201", `{"x":0.5,"y":0.5}`, 400},
		{"off the plan", admin, "/api/plans/site-a/markers/room/1", `{"x":1.5,"y":0.5}`, 400},
		{"one coordinate", admin, "/api/plans/site-a/markers/room/1", `{"x":0.5}`, 400},
		{"a site the nurse cannot see", nurseA, "/api/plans/site-b/markers/room/3", `{"x":0.5,"y":0.5}`, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.who, "PUT", c.path, []byte(c.body), "application/json")
			assert.Equal(t, c.code, w.Code, w.Body.String())
		})
	}
	assert.False(t, f.rooms["3"].Placed, "another site's room did not move")
	assert.Equal(t, 0.3, f.rooms["1"].X, "refused placements changed nothing")

	require.Equal(t, 204, e.do(admin, "DELETE", "/api/plans/site-a/markers/room/2", nil, "").Code)
	require.Equal(t, 404, e.do(admin, "DELETE", "/api/plans/site-a/markers/room/3", nil, "").Code)
	pl = plan(admin)
	require.Len(t, pl.Rooms, 1)
	require.Equal(t, []Room{{ID: "2", Name: "102", State: "vacant"}}, pl.UnplacedRooms)

	recs, err := lg.Query(t.Context(), audit.Filter{Action: audit.SitePlanPlace, Site: "site-a"})
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, "room 102", recs[0].Target)
	assert.Equal(t, "x=0.900 y=0.100", recs[0].Detail)
	recs, err = lg.Query(t.Context(), audit.Filter{Action: audit.SitePlanRemove, Site: "site-a"})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "room 102", recs[0].Target)
}
