package ward

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"citywatch/dashboards/auth"
)

// badBodies seed the fuzz target: the table of TestBadRequests and a few good bodies.
var badBodies = []string{
	`{"name":"../etc"}`, `{"name":"201","unknown":1}`, `{"name":"201","plan_x":7}`, strings.Repeat("[", 1000),
	`{"room_id":"one"}`, `{"room_id":1,"case_id":"<script>"}`, `{"value":1e309}`, `{"value":99}`, `{"status":"active"}`,
	`{"camera":"cam1"}`, `{"room_id":1,"name":"A","contact":"B","start":"2026-12-07T08:00:00Z"}`, `{"value":36.6}`,
	`{"wearables":["w-1","w-1"],"sensors":["s"]}`, `{"status":"released"}`, `{"name":"301","bindings":{"wearables":["x"]}}`,
	"\x00", `{"value":36.6,"round":"2026-12-07T08:00:00+01:00","metric":"heart_rate"}`, `null`, `{}`, ``,
}

// FuzzWardRequests: whatever body a client sends to the ward's write routes, the answer is a JSON 2xx or 4xx,
// never a 5xx or a panic, and the ward stays consistent (one active occupancy per room).
func FuzzWardRequests(f *testing.F) {
	for i, b := range badBodies {
		f.Add(uint8(i), b)
	}
	e := newEnv(f, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Config{})
	room := e.room(f, "site-a", "101", "wearable-001")
	occ, err := e.ward.Store().CheckIn(context.Background(), "site-a", CheckIn{RoomID: room.ID}, "nurse")
	if err != nil {
		f.Fatal(err)
	}
	routes := map[string]http.Handler{}
	for _, r := range e.ward.Routes() {
		routes[r.Rule.Key()] = r.Handler
	}
	targets := []struct{ key, path string }{
		{"POST /api/ward/{site}/rooms", "/api/ward/site-a/rooms"},
		{"POST /api/ward/{site}/checkin", "/api/ward/site-a/checkin"},
		{"PUT /api/ward/{site}/rooms/{id}/bindings", "/api/ward/site-a/rooms/" + strconv.FormatInt(room.ID, 10) + "/bindings"},
		{"POST /api/ward/{site}/occupancies/{id}/readings", "/api/ward/site-a/occupancies/" + strconv.FormatInt(occ.ID, 10) + "/readings"},
		{"POST /api/ward/{site}/occupancies/{id}/status", "/api/ward/site-a/occupancies/" + strconv.FormatInt(occ.ID, 10) + "/status"},
	}
	nurse := auth.Principal{Kind: auth.KindUser, ID: "nurse", Name: "nurse", Role: auth.RoleHealthStaff, Sites: []string{"site-a"}}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		tg := targets[int(which)%len(targets)]
		method, _, _ := strings.Cut(tg.key, " ")
		mux := http.NewServeMux()
		mux.Handle(tg.key, routes[tg.key])
		req := httptest.NewRequest(method, tg.path, strings.NewReader(body))
		req = req.WithContext(auth.NewContext(req.Context(), nurse))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("%s %q: status %d: %s", tg.key, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: not JSON: %s", tg.key, body, rec.Body)
		}
		occs, err := e.ward.Store().Occupancies(context.Background(), "site-a", true, false)
		if err != nil {
			t.Fatal(err)
		}
		per := map[int64]int{}
		for _, o := range occs {
			if per[o.RoomID]++; per[o.RoomID] > 1 {
				t.Fatalf("room %d has two active occupancies", o.RoomID)
			}
		}
	})
}
