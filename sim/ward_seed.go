package sim

import (
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // WardTimeZone loads on hosts without a zoneinfo database
)

// The ward the demo and `citywatch simulate sensors --ward` populate (one source for both): the leave fault's
// wearable sits behind the door camera's zone, so its night-time leave shows as PossibleLeave.
const (
	// WardLeaveDevice is the wearable whose room the door camera watches (the demo's leave fault).
	WardLeaveDevice = "wearable-003"
	// WardDoorCamera and WardDoorZone watch WardLeaveDevice's room door.
	WardDoorCamera = "cam1"
	WardDoorZone   = "all"
)

// WardSchedule is a site's round schedule and night hours ("HH:MM", "HH:MM-HH:MM") in its IANA time zone, as
// ward.sites[] and PUT /api/ward/{site}/settings take them.
type WardSchedule struct {
	TimeZone string
	Rounds   []string
	Night    string
}

// WardTimeZone is the zone of the simulated quarantine hotels: citywatch's first wards are in Vietnam, and
// their staff read rounds and night hours in local time.
const WardTimeZone = "Asia/Ho_Chi_Minh"

// WardPastRound is the round of WardScheduleAt(now) that was due before now: 20 minutes earlier, on the minute.
func WardPastRound(now time.Time) time.Time {
	return now.Add(-20 * time.Minute).UTC().Truncate(time.Minute)
}

// WardScheduleAt is the schedule the demo and `simulate sensors --ward` give a quarantine site without one, so
// that a newcomer sees rounds and the night within minutes of now: a round 20 minutes ago (WardPastRound; with
// the default 30-minute window it is still open and the simulated wearables' first readings make it, then it
// closes and the rooms without a wearable miss it), the next in 40 minutes, and the night from an hour ago to
// six hours on (night-time signals from the start).
func WardScheduleAt(now time.Time) WardSchedule {
	loc, err := time.LoadLocation(WardTimeZone) // embedded by the time/tzdata import above: it cannot fail
	if err != nil {
		loc = time.UTC
	}
	hhmm := func(t time.Time) string { return t.In(loc).Format("15:04") }
	return WardSchedule{TimeZone: loc.String(), Rounds: []string{hhmm(WardPastRound(now)), hhmm(now.Add(40 * time.Minute))},
		Night: hhmm(now.Add(-time.Hour)) + "-" + hhmm(now.Add(6*time.Hour))}
}

// WardStayBefore is how long before the seeding the seeded occupants' quarantine starts (the demo's and
// `simulate sensors --ward`'s), so WardPastRound, 20 minutes ago, is a round they owe.
const WardStayBefore = time.Hour

// WardSeedRoom is one room of the seeded ward with its bindings and, unless vacant, its occupant.
type WardSeedRoom struct {
	Site, Name, Floor string
	Wearables         []string
	Sensors           []string
	Camera, Zone      string
	// CaseID is the occupant's pseudonymous case id; empty leaves the room vacant.
	CaseID string
	// PersonName and Contact are fake personal fields, for the demo only (the simulator checks in case ids only).
	PersonName, Contact string
	// Manual marks a room without a wearable: a nurse enters its readings.
	Manual bool
}

// WardSeed is the ward that matches the simulated fleet: a room per wearable (WardRooms) with an occupant
// ("Q-DEMO-nn"), except the last wearable room of the second quarantine site, which stays vacant (its
// wearable's alerts are suppressed); WardLeaveDevice's room bound to WardDoorCamera; and one room per
// quarantine site without a wearable ("<n>-M1", floor 2, case "Q-DEMO-Mn") whose rounds a nurse enters.
func WardSeed(cfg SensorsConfig) []WardSeedRoom {
	cfg = cfg.withDefaults()
	rooms := WardRooms(cfg)
	var sites []string // quarantine sites with wearable rooms, in order
	vacant := map[string]string{}
	for _, r := range rooms {
		if !slices.Contains(sites, r.Site) {
			sites = append(sites, r.Site)
		}
		vacant[r.Site] = r.Name
	}
	var out []WardSeedRoom
	for i, r := range rooms {
		s := WardSeedRoom{Site: r.Site, Name: r.Name, Floor: "1", Wearables: []string{r.Wearable}}
		if r.Sensor != "" {
			s.Sensors = []string{r.Sensor}
		}
		if r.Wearable == WardLeaveDevice {
			s.Camera, s.Zone = WardDoorCamera, WardDoorZone
		}
		if len(sites) < 2 || r.Site != sites[1] || r.Name != vacant[r.Site] {
			s.CaseID = fmt.Sprintf("Q-DEMO-%02d", i+1)
			s.PersonName = fmt.Sprintf("Demo Person %d", i+1)
			s.Contact = "+000 0000 " + fmt.Sprint(1000+i)
		}
		out = append(out, s)
	}
	n := 0
	for si, s := range cfg.Sites {
		if !slices.Contains(s.Kinds, KindWearable) {
			continue
		}
		n++
		out = append(out, WardSeedRoom{Site: s.Name, Name: fmt.Sprintf("%d-M1", si+1), Floor: "2",
			CaseID: fmt.Sprintf("Q-DEMO-M%d", n), Manual: true})
	}
	return out
}

// The wearable side of the seeded ward's night-time leave (WithWardLeave).
const (
	// WardLeaveAfter is when WardLeaveDevice's occupant walks out (its rssi falls by LeaveRSSIDrop).
	WardLeaveAfter = time.Minute
	// WardLeaveSilentAfter is how long after that the wearable goes silent (out of the gateway's range).
	WardLeaveSilentAfter = time.Minute
)

// WithWardLeave returns cfg with the night-time leave of `simulate sensors --ward`: unless cfg already has a
// leave fault, WardLeaveDevice (bound to the door camera's room by WardSeed) leaves WardLeaveAfter after the
// start and goes silent WardLeaveSilentAfter later. It is the wearable side only: the ward's PossibleLeave also
// needs motion in the door zone (WardDoorCamera/WardDoorZone, a camera's camera_motion_score), which sensors
// cannot send. A fleet without WardLeaveDevice as a wearable is returned unchanged.
func WithWardLeave(cfg SensorsConfig) SensorsConfig {
	if cfg.Faults.LeaveDevice != "" {
		return cfg
	}
	for _, r := range WardRooms(cfg) {
		if r.Wearable == WardLeaveDevice {
			cfg.Faults.LeaveDevice, cfg.Faults.LeaveAfter = WardLeaveDevice, WardLeaveAfter
			cfg.Faults.LeaveSilentAfter = WardLeaveSilentAfter
			return cfg
		}
	}
	return cfg
}
