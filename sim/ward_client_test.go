package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
)

// fakeWardAPI is the part of citywatch's ward API the seeder uses, in memory, with the admin token "tok".
type fakeWardAPI struct {
	mu     sync.Mutex
	rooms  map[string][]map[string]any // per site
	checks []map[string]any
	// conflictRoom answers 409 to creating the room of that name.
	conflictRoom string
	// configured are the sites ward.sites[] lists; settings the sites' API overrides (PUT replaces them).
	configured map[string]bool
	settings   map[string]map[string]any
	puts       int
}

func (f *fakeWardAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "unauthorized"})
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/ward/"), "/")
	site := parts[0]
	var in map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	switch {
	case r.Method == http.MethodGet && len(parts) == 1:
		_ = json.NewEncoder(w).Encode(map[string]any{"site": site, "rooms": f.rooms[site]})
	case r.Method == http.MethodGet && parts[1] == "settings":
		o := f.settings[site]
		if o == nil {
			o = map[string]any{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"site": site, "configured": f.configured[site], "overrides": o})
	case r.Method == http.MethodPut && parts[1] == "settings":
		if f.settings == nil {
			f.settings = map[string]map[string]any{}
		}
		f.settings[site] = in
		f.puts++
		_, _ = w.Write([]byte(`{}`))
	case r.Method == http.MethodPost && parts[1] == "rooms":
		if in["name"] == f.conflictRoom {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "device bound to another room", "detail": nil})
			return
		}
		in["id"] = len(f.rooms[site]) + 1
		if f.rooms == nil {
			f.rooms = map[string][]map[string]any{}
		}
		f.rooms[site] = append(f.rooms[site], in)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(in)
	case r.Method == http.MethodPost && parts[1] == "checkin":
		id := int(in["room_id"].(float64))
		f.rooms[site][id-1]["occupancy"] = map[string]any{"case_id": in["case_id"]}
		f.checks = append(f.checks, in)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{}`))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// TestWardSeeder: the seeder creates WardSeed's rooms with their bindings and checks in case ids only; a second
// run creates nothing; API errors name request and status (never the token) and the other rooms are still seeded.
func TestWardSeeder(t *testing.T) {
	seed := WardSeed(SensorsConfig{Devices: 20})
	occupied := 0
	for _, r := range seed {
		if r.CaseID != "" {
			occupied++
		}
	}
	tests := []struct {
		name         string
		token        string
		conflictRoom string
		runs         int
		wantCreated  int // by the last run
		wantChecked  int // by the last run
		wantErr      []string
	}{
		{name: "fresh", token: "tok", runs: 1, wantCreated: len(seed), wantChecked: occupied},
		{name: "second run is a no-op", token: "tok", runs: 2, wantCreated: 0, wantChecked: 0},
		{name: "conflict", token: "tok", conflictRoom: "1-02", runs: 1, wantCreated: len(seed) - 1, wantChecked: occupied - 1,
			wantErr: []string{"room 1-02", "POST /api/ward/q-hotel-1/rooms", "409", "device bound to another room"}},
		{name: "wrong token", token: "secret-wrong", runs: 1, wantErr: []string{"GET /api/ward/q-hotel-1", "401", "unauthorized"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeWardAPI{conflictRoom: tc.conflictRoom}
			srv := httptest.NewServer(api)
			defer srv.Close()
			s := WardSeeder{Base: srv.URL, Token: tc.token}
			var res WardSeedResult
			var err error
			for range tc.runs {
				res, err = s.Seed(t.Context(), seed)
			}
			assert.Equal(t, tc.wantCreated, res.RoomsCreated, "rooms created")
			assert.Equal(t, tc.wantChecked, res.CheckedIn, "check-ins")
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrWardAPI)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				assert.NotContains(t, err.Error(), tc.token)
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			total := 0
			for _, rooms := range api.rooms {
				total += len(rooms)
			}
			assert.Equal(t, tc.wantCreated+map[bool]int{true: len(seed)}[tc.runs == 2], total, "rooms on the server")
			for _, c := range api.checks {
				assert.NotContains(t, c, "name", "the simulator sends no personal fields")
				assert.NotContains(t, c, "contact")
			}
			if tc.name == "fresh" {
				var door map[string]any
				for _, r := range api.rooms["q-hotel-1"] {
					if r["name"] == "1-02" {
						door = r
					}
				}
				require.NotNil(t, door)
				b := door["bindings"].(map[string]any)
				assert.Equal(t, []any{WardLeaveDevice}, b["wearables"])
				assert.Equal(t, WardDoorCamera, b["camera"])
			}
		})
	}
}

// TestWardSeederNoRedirect: a redirect (e.g. to another host) is an error, not followed with the token.
func TestWardSeederNoRedirect(t *testing.T) {
	var leaked bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = leaked || r.Header.Get("Authorization") != ""
	}))
	defer other.Close()
	srv := httptest.NewServer(http.RedirectHandler(other.URL+"/x", http.StatusFound))
	defer srv.Close()
	_, err := WardSeeder{Base: srv.URL, Token: "tok"}.Seed(t.Context(), WardSeed(SensorsConfig{Devices: 4}))
	require.ErrorIs(t, err, ErrWardAPI)
	assert.Contains(t, err.Error(), "302")
	assert.False(t, leaked)
}

func TestWardSeedData(t *testing.T) {
	seed := WardSeed(SensorsConfig{Devices: 20})
	require.Len(t, seed, 8) // 6 wearable rooms + 2 manual
	assert.Equal(t, WardSeedRoom{Site: "q-hotel-2", Name: "2-03", Floor: "1", Wearables: []string{"wearable-006"}}, seed[5], "vacant")
	assert.Equal(t, WardSeedRoom{Site: "q-hotel-1", Name: "1-M1", Floor: "2", CaseID: "Q-DEMO-M1", Manual: true}, seed[6])
	assert.Equal(t, "Q-DEMO-01", seed[0].CaseID)
}

// TestWardSeederSchedule: a site without a schedule gets WardScheduleAt's rounds and night hours (Asia/Ho_Chi_Minh), keeping
// an API retention setting; a configured site or one with the operator's API schedule is left as it is; a second
// run changes nothing (the schedule it set is now the site's).
func TestWardSeederSchedule(t *testing.T) {
	now := time.Date(2026, 12, 7, 19, 30, 10, 0, time.UTC)
	want := map[string]any{"time_zone": "Asia/Ho_Chi_Minh", "rounds": []any{"02:10", "03:10"}, "night": "01:30-08:30"}
	tests := []struct {
		name       string
		configured bool
		overrides  map[string]any
		wantSet    bool
		want       map[string]any // q-hotel-1's overrides after the runs
	}{
		{name: "none", wantSet: true, want: want},
		{name: "retention only", overrides: map[string]any{"retention_days": 14}, wantSet: true,
			want: map[string]any{"time_zone": "Asia/Ho_Chi_Minh", "rounds": []any{"02:10", "03:10"}, "night": "01:30-08:30", "retention_days": float64(14)}},
		{name: "configured", configured: true},
		{name: "the operator's rounds", overrides: map[string]any{"rounds": []any{"07:00"}}, want: map[string]any{"rounds": []any{"07:00"}}},
		{name: "the operator's night", overrides: map[string]any{"night": "21:00-05:00"}, want: map[string]any{"night": "21:00-05:00"}},
		{name: "the operator's time zone", overrides: map[string]any{"time_zone": "Asia/Ho_Chi_Minh"}, want: map[string]any{"time_zone": "Asia/Ho_Chi_Minh"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeWardAPI{configured: map[string]bool{"q-hotel-1": tc.configured}}
			if tc.overrides != nil {
				api.settings = map[string]map[string]any{"q-hotel-1": tc.overrides}
			}
			srv := httptest.NewServer(api)
			defer srv.Close()
			s := WardSeeder{Base: srv.URL, Token: "tok", Clock: clock.NewFake(now)}
			seed := WardSeed(SensorsConfig{Devices: 20})
			res, err := s.Seed(t.Context(), seed)
			require.NoError(t, err)
			assert.Equal(t, tc.wantSet, slices.Contains(res.ScheduleSet, "q-hotel-1"), "set: %+v", res)
			assert.Equal(t, !tc.wantSet, slices.Contains(res.ScheduleKept, "q-hotel-1"), "kept: %+v", res)
			assert.Contains(t, res.ScheduleSet, "q-hotel-2", "the other site has none")
			assert.Equal(t, WardSchedule{TimeZone: "Asia/Ho_Chi_Minh", Rounds: []string{"02:10", "03:10"}, Night: "01:30-08:30"}, res.Schedule)
			now = now.Add(3 * time.Hour) // a later run: nothing changes
			again, err := s.Seed(t.Context(), seed)
			require.NoError(t, err)
			assert.Empty(t, again.ScheduleSet, "second run")
			api.mu.Lock()
			defer api.mu.Unlock()
			assert.Equal(t, tc.want, api.settings["q-hotel-1"])
			assert.Equal(t, want, api.settings["q-hotel-2"])
			now = now.Add(-3 * time.Hour)
		})
	}
}
