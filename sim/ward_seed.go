package sim

import (
	"fmt"
	"slices"
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
