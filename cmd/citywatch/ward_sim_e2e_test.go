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
// (rooms bound to the simulated wearables, case-id occupants, a vacant room, rooms without a wearable), gives the
// site without a configured schedule rounds and night hours from now (and leaves the configured one's alone), the
// wearables' readings join their rooms' occupants and make the round, the leave fault's wearable goes away then
// silent in its room at night, and a second simulator run duplicates nothing.
func TestWardSimulateEndToEnd(t *testing.T) {
	e2e(t)
	cw := newServe(t, withYAML(`ward:
  interval: 1s
  sites:
    - site: q-hotel-2
      time_zone: UTC
      rounds: ["08:00", "20:00"]
`))
	base := cw.base()
	p := cw.start(t)
	defer p.stop()
	const devices = 20
	want := sim.WardSeed(sim.SensorsConfig{Devices: devices})
	simArgs := []string{"simulate", "sensors", "--broker", cw.broker(), "--devices", fmt.Sprint(devices), "--rate", "2", "--ward", base}
	// The leave of `--ward` (sim.WithWardLeave: away after 1m, silent 1m later), sooner.
	leaveArgs := append(append([]string{}, simArgs...), "--faults", "leave="+sim.WardLeaveDevice+"@4s,leave-silent=8s")

	started := time.Now()
	s1 := start(t, leaveArgs...)
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
	if got := strings.Join(views["q-hotel-2"].Rounds, ","); got != "08:00,20:00" {
		t.Errorf("rounds of q-hotel-2 (configured): %s", got)
	}

	// Rounds and night hours: set for q-hotel-1, which had none (from now: a round 20 minutes ago, night now);
	// q-hotel-2's configured schedule is left alone.
	type settingsView struct {
		TimeZone   string   `json:"time_zone"`
		Rounds     []string `json:"rounds"`
		Night      string   `json:"night"`
		Configured bool     `json:"configured"`
		Overrides  struct {
			Rounds []string `json:"rounds"`
			Night  string   `json:"night"`
		} `json:"overrides"`
	}
	var set1, set2 settingsView
	if code, err := getJSON(base, "/api/ward/q-hotel-1/settings", &set1); err != nil || code != 200 {
		t.Fatalf("settings of q-hotel-1: %d %v", code, err)
	}
	if code, err := getJSON(base, "/api/ward/q-hotel-2/settings", &set2); err != nil || code != 200 {
		t.Fatalf("settings of q-hotel-2: %d %v", code, err)
	}
	if set2.Overrides.Rounds != nil || set2.Overrides.Night != "" || !set2.Configured {
		t.Errorf("the simulator changed q-hotel-2's configured schedule: %+v", set2)
	}
	if set1.TimeZone != "Asia/Ho_Chi_Minh" || len(set1.Overrides.Rounds) != 2 || set1.Overrides.Night == "" {
		t.Fatalf("q-hotel-1 got no rounds and night hours in Vietnam's time zone: %+v\n%s", set1, s1.Out.String())
	}
	zone, err := time.LoadLocation(set1.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	pastRound := nearestClock(t, set1.Rounds[0], started.In(zone))
	if d := started.Sub(pastRound); d < 18*time.Minute || d > 22*time.Minute {
		t.Errorf("q-hotel-1's first round %s is %v before the start, want about 20m (the demo's)", set1.Rounds[0], d)
	}
	if now := time.Now().In(zone); !inNight(t, set1.Night, now) {
		t.Errorf("q-hotel-1's night %s does not cover now (%s)", set1.Night, now.Format("15:04"))
	}
	if !strings.Contains(s1.Out.String(), "ward schedule set") {
		t.Errorf("the simulator does not say it set the schedule:\n%s", s1.Out.String())
	}
	// The simulated wearables make the past round, which is still open (default 30m window).
	eventually(t, 60*time.Second, func() string {
		var r struct {
			Rounds []struct {
				Label string `json:"label"`
				Rows  []struct {
					CaseID string `json:"case_id"`
					Result struct {
						State string `json:"state"`
					} `json:"result"`
				} `json:"rows"`
			} `json:"rounds"`
		}
		path := "/api/ward/q-hotel-1/rounds?date=" + pastRound.Format("2006-01-02")
		if code, err := getJSON(base, path, &r); err != nil || code != 200 {
			return fmt.Sprintf("rounds: %d %v", code, err)
		}
		for _, rd := range r.Rounds {
			for _, row := range rd.Rows {
				if strings.HasSuffix(rd.Label, " "+set1.Rounds[0]) && row.CaseID == "Q-DEMO-01" && row.Result.State == "done" {
					return ""
				}
			}
		}
		return fmt.Sprintf("Q-DEMO-01 not done in round %s: %+v", set1.Rounds[0], r.Rounds)
	})

	// The leave's wearable side, in its room at night: wearable-003 (room 1-02, the door camera's) moves away
	// from the gateway (rssi down by more than the ward's 10 dB) while it reports, then goes silent (what
	// WearableSilent reads, from 5 minutes on).
	away := `(max_over_time(rssi{device="` + sim.WardLeaveDevice + `"}[10m]) - rssi{device="` + sim.WardLeaveDevice + `"} > 15)
		* on(site, device) group_left(room, case_id) ward_occupant_info`
	silent := `(device_last_seen_seconds{device="` + sim.WardLeaveDevice + `"} > 6)
		* on(site, device) group_left(room, case_id) ward_occupant_info`
	for _, q := range []string{away, silent} {
		waitForSeries(t, base, q, map[string]string{"room": "1-02", "case_id": "Q-DEMO-02"})
	}

	// The wearables report into their rooms: body temperature joined with the occupant's room and case id.
	waitForSeries(t, base, `body_temperature * on(site, device) group_left(room, case_id) ward_occupant_info`,
		map[string]string{"device": "wearable-001", "room": "1-01", "case_id": "Q-DEMO-01"})
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

// nearestClock is the time of day hhmm, in ref's zone, nearest to ref.
func nearestClock(t *testing.T, hhmm string, ref time.Time) time.Time {
	t.Helper()
	c, err := time.Parse("15:04", hhmm)
	if err != nil {
		t.Fatalf("round %q: %v", hhmm, err)
	}
	day := time.Date(ref.Year(), ref.Month(), ref.Day(), c.Hour(), c.Minute(), 0, 0, ref.Location())
	best := day
	for _, d := range []time.Time{day.AddDate(0, 0, -1), day.AddDate(0, 0, 1)} {
		if d.Sub(ref).Abs() < best.Sub(ref).Abs() {
			best = d
		}
	}
	return best
}

// inNight says whether now is within night hours "HH:MM-HH:MM" in now's zone (they may wrap midnight).
func inNight(t *testing.T, night string, now time.Time) bool {
	t.Helper()
	from, to, ok := strings.Cut(night, "-")
	f, err1 := time.Parse("15:04", from)
	e, err2 := time.Parse("15:04", to)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("night %q", night)
	}
	m := now.Hour()*60 + now.Minute()
	fm, em := f.Hour()*60+f.Minute(), e.Hour()*60+e.Minute()
	if fm <= em {
		return fm <= m && m < em
	}
	return m >= fm || m < em
}

// waitForSeries waits until an instant query answers a series whose labels include want.
func waitForSeries(t *testing.T, base, query string, want map[string]string) {
	t.Helper()
	eventually(t, 60*time.Second, func() string {
		var r struct {
			Data struct {
				Result []struct{ Metric map[string]string }
			}
		}
		if code, err := getJSON(base, "/api/v1/query?query="+url.QueryEscape(query), &r); err != nil || code != 200 {
			return fmt.Sprintf("query: %d %v", code, err)
		}
		for _, s := range r.Data.Result {
			if labelsInclude(s.Metric, want) {
				return ""
			}
		}
		return fmt.Sprintf("%s: no series with %v in %+v", query, want, r.Data.Result)
	})
}

func labelsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
