package app

import (
	"context"
	"errors"
	"time"

	"citywatch/config"
	"citywatch/sim"
	"citywatch/ward"
)

// The demo's ward: every simulated wearable of the quarantine hotels has a room with an occupant, plus one room
// per hotel without a wearable (a nurse enters its readings), and the last wearable room of q-hotel-2 stays
// vacant (its wearable's alerts are suppressed). The demo's clock decides the rounds and the night: a round
// closed 20 minutes ago (the rooms without a wearable miss it: WardRoundMissed), the next is in 40 minutes, and
// the night is now, so the leave (sim.WithWardLeave: wearable-003's RSSI falls at 1 minute, while cam1 at its
// door sees motion, and the wearable is out of range from 2 minutes on) shows PossibleLeave at cam1's motion
// every 90 s for as long as the demo runs — not only while the fallen RSSI is below its half-hour median,
// which it stops being a minute later.
const (
	demoLeaveDevice = sim.WardLeaveDevice
	demoDoorCamera  = sim.WardDoorCamera
)

// demoPastRound is the demo's round that closed before it started (the first of demoWardSites' rounds).
func demoPastRound(now time.Time) time.Time { return sim.WardPastRound(now) }

// demoWardSites are the ward settings of the demo's quarantine hotels, relative to now, in Asia/Ho_Chi_Minh:
// the schedule `simulate sensors --ward` sets too (sim.WardScheduleAt), with a 10-minute window so the past
// round is closed.
func demoWardSites(now time.Time) []config.WardSiteConfig {
	sched := sim.WardScheduleAt(now)
	var out []config.WardSiteConfig
	for _, site := range []string{"q-hotel-1", "q-hotel-2"} {
		s := config.DefaultWardSite()
		s.Site = site
		s.TimeZone = sched.TimeZone
		s.Rounds = append([]string(nil), sched.Rounds...)
		s.RoundWindow = config.Duration(10 * time.Minute)
		s.Night = sched.Night
		out = append(out, s)
	}
	return out
}

// seedDemoWard creates the demo's rooms and occupants (sim.WardSeed, shared with `simulate sensors --ward`)
// once (a kept --data directory keeps its ward). The demo's occupants carry fake names and contacts.
func seedDemoWard(ctx context.Context, st *ward.Store, simCfg sim.SensorsConfig, now time.Time) error {
	have, err := st.Rooms(ctx, "")
	if err != nil || len(have) > 0 {
		return err
	}
	for _, r := range sim.WardSeed(simCfg) {
		room, err := st.CreateRoom(ctx, ward.Room{Site: r.Site, Name: r.Name, Floor: r.Floor,
			Bindings: ward.Bindings{Wearables: r.Wearables, Sensors: r.Sensors, Camera: r.Camera, Zone: r.Zone}})
		if err != nil {
			return err
		}
		if r.CaseID == "" {
			continue
		}
		occ, err := st.CheckIn(ctx, r.Site, ward.CheckIn{RoomID: room.ID, CaseID: r.CaseID, Name: r.PersonName,
			Contact: r.Contact, Start: now.Add(-sim.WardStayBefore)}, "demo")
		if errors.Is(err, ward.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		if r.Manual {
			continue // the rooms without a wearable missed the past round
		}
		// The past round was done by hand (the simulator was not running yet).
		if _, err := st.AddManualReading(ctx, r.Site, ward.ManualReading{OccupancyID: occ.ID, Value: 36.7,
			Time: demoPastRound(now), Round: demoPastRound(now), EnteredBy: "demo-nurse"}); err != nil {
			return err
		}
	}
	return nil
}
