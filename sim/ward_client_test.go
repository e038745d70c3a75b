package sim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeWardAPI is the part of citywatch's ward API the seeder uses, in memory, with the admin token "tok".
type fakeWardAPI struct {
	mu     sync.Mutex
	rooms  map[string][]map[string]any // per site
	checks []map[string]any
	// conflictRoom answers 409 to creating the room of that name.
	conflictRoom string
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
	if r.Method == http.MethodPost {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	switch {
	case r.Method == http.MethodGet && len(parts) == 1:
		_ = json.NewEncoder(w).Encode(map[string]any{"site": site, "rooms": f.rooms[site]})
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
