package main_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"citywatch/internal/testenv"
	"citywatch/sim"
)

type wardView struct {
	Rounds []string `json:"rounds"`
	Rooms  []struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		Bindings struct {
			Wearables []string `json:"wearables"`
			Camera    string   `json:"camera"`
		} `json:"bindings"`
		Occupancy *struct {
			CaseID string `json:"case_id"`
			Name   string `json:"name"`
		} `json:"occupancy"`
	} `json:"rooms"`
}

// TestWardSimulateEndToEnd: `simulate sensors --ward URL` populates a running citywatch's ward over the API
// (rooms bound to the simulated wearables, case-id occupants, a vacant room, rooms without a wearable), the
// wearables' readings join their rooms' occupants, and a second simulator run duplicates nothing.
func TestWardSimulateEndToEnd(t *testing.T) {
	cw := newServe(t, withYAML(`ward:
  interval: 1s
  sites:
    - site: q-hotel-1
      time_zone: UTC
      rounds: ["08:00", "20:00"]
`))
	base := cw.base()
	p := cw.start(t)
	defer p.stop()
	const devices = 20
	want := sim.WardSeed(sim.SensorsConfig{Devices: devices})
	simArgs := []string{"simulate", "sensors", "--broker", cw.broker(), "--devices", fmt.Sprint(devices), "--rate", "2", "--ward", base}

	s1 := start(t, simArgs...)
	views := map[string]wardView{}
	eventually(t, 60*time.Second, func() string {
		rooms, occupied := 0, 0
		for _, site := range []string{"q-hotel-1", "q-hotel-2"} {
			var v wardView
			if code, err := getJSON(base, "/api/ward/"+site, &v); err != nil || code != 200 {
				return fmt.Sprintf("ward %s: %d %v", site, code, err)
			}
			views[site] = v
			rooms += len(v.Rooms)
			for _, r := range v.Rooms {
				if r.Occupancy != nil {
					occupied++
				}
			}
		}
		if rooms != len(want) || occupied != len(want)-1 {
			return fmt.Sprintf("%d rooms, %d occupied; want %d and %d\n%s", rooms, occupied, len(want), len(want)-1, s1.Out.String())
		}
		return ""
	})
	byName := map[string]string{} // room → case id
	for _, r := range views["q-hotel-1"].Rooms {
		if r.Occupancy != nil {
			byName[r.Name] = r.Occupancy.CaseID
			if r.Occupancy.Name != "" {
				t.Errorf("the simulator checked in a name: %+v", r.Occupancy)
			}
		}
		if r.Name == "1-02" && (r.Bindings.Camera != sim.WardDoorCamera || len(r.Bindings.Wearables) != 1 || r.Bindings.Wearables[0] != sim.WardLeaveDevice) {
			t.Errorf("room 1-02 bindings: %+v", r.Bindings)
		}
	}
	if byName["1-01"] != "Q-DEMO-01" || byName["1-M1"] != "Q-DEMO-M1" {
		t.Errorf("q-hotel-1 occupants: %v", byName)
	}
	if got := strings.Join(views["q-hotel-1"].Rounds, ","); got != "08:00,20:00" {
		t.Errorf("rounds of q-hotel-1: %s", got)
	}

	// The wearables report into their rooms: body temperature joined with the occupant's room and case id.
	q := `body_temperature * on(site, device) group_left(room, case_id) ward_occupant_info`
	eventually(t, 60*time.Second, func() string {
		var r struct {
			Data struct {
				Result []struct{ Metric map[string]string }
			}
		}
		if code, err := getJSON(base, "/api/v1/query?query="+url.QueryEscape(q), &r); err != nil || code != 200 {
			return fmt.Sprintf("query: %d %v", code, err)
		}
		for _, s := range r.Data.Result {
			if s.Metric["device"] == "wearable-001" && s.Metric["room"] == "1-01" && s.Metric["case_id"] == "Q-DEMO-01" {
				return ""
			}
		}
		return fmt.Sprintf("no reading of wearable-001 in room 1-01: %+v", r.Data.Result)
	})
	if err := s1.Stop(10 * time.Second); err != nil {
		t.Fatalf("simulator: %v\n%s", err, s1.Out.String())
	}

	// A second run: nothing new, the sensors still publish; a wrong token is a logged error, not an exit.
	s2 := start(t, simArgs...)
	eventually(t, 30*time.Second, func() string {
		if out := s2.Out.String(); !strings.Contains(out, "ward populated") || !strings.Contains(out, "rooms_created=0") {
			return "second run: " + out
		}
		return ""
	})
	_ = s2.Stop(10 * time.Second)
	total := 0
	for _, site := range []string{"q-hotel-1", "q-hotel-2"} {
		var v wardView
		if code, err := getJSON(base, "/api/ward/"+site, &v); err != nil || code != 200 {
			t.Fatalf("ward %s: %d %v", site, code, err)
		}
		total += len(v.Rooms)
	}
	if total != len(want) {
		t.Errorf("after the second run: %d rooms, want %d", total, len(want))
	}

	s3 := testenv.StartProcess(t, binPath, []string{"CITYWATCH_ADMIN_TOKEN=not-the-token-42"}, simArgs...)
	eventually(t, 30*time.Second, func() string {
		out := s3.Out.String()
		if !strings.Contains(out, "ward not (fully) populated") || !strings.Contains(out, "401") {
			return "wrong token: " + out
		}
		if strings.Contains(out, "not-the-token-42") {
			t.Fatalf("the token is logged: %s", out)
		}
		return ""
	})
	if err := s3.Stop(10 * time.Second); err != nil {
		t.Errorf("the simulator with a wrong ward token did not keep running: %v\n%s", err, s3.Out.String())
	}
}
