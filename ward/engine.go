package ward

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/value"

	"citywatch/store"
)

// The series the engine publishes (see the package documentation).
const (
	SeriesOccupantInfo    = "ward_occupant_info"
	SeriesBindingInfo     = "ward_binding_info"
	SeriesRoomOccupied    = "ward_room_occupied"
	SeriesRoundMissed     = "ward_round_missed"
	SeriesWearableRemoved = "ward_wearable_removed"
	SeriesPossibleLeave   = "ward_possible_leave"
)

// roundLabel formats a round instant in the site's zone, as the round label and in the UI.
func roundLabel(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02 15:04") }

// Evaluate publishes the ward series once: occupant and binding info, missed rounds and the occupant signals.
// Series published last time and not now get a staleness marker, so a release resolves alerts at once.
func (w *Ward) Evaluate(ctx context.Context) error {
	w.evals.Inc()
	err := w.evaluate(ctx)
	if err != nil {
		w.evalErrs.Inc()
	}
	return err
}

// roomsAndActive returns the rooms of site ("" for every site) and their active occupancies.
func (w *Ward) roomsAndActive(ctx context.Context, site string) ([]Room, []Occupancy, error) {
	rooms, err := w.st.Rooms(ctx, site)
	if err != nil {
		return nil, nil, err
	}
	occs, err := w.st.Occupancies(ctx, site, true, false)
	if err != nil {
		return nil, nil, err
	}
	return rooms, occs, nil
}

func (w *Ward) evaluate(ctx context.Context) error {
	now := w.clk.Now()
	rooms, occs, err := w.roomsAndActive(ctx, "")
	if err != nil {
		return err
	}
	w.occupants.Set(float64(len(occs)))
	byRoom := make(map[int64]Occupancy, len(occs))
	for _, o := range occs {
		byRoom[o.RoomID] = o
	}
	cur := map[string]store.Sample{}
	put := func(name string, kv ...string) {
		ls := make([]store.Label, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				ls = append(ls, store.Label{Name: kv[i], Value: kv[i+1]})
			}
		}
		s := store.Sample{Name: name, Labels: store.SortLabels(ls), T: now.UnixMilli(), V: 1}
		cur[store.LabelsString(name, s.Labels)] = s
	}
	var errs []error
	for _, r := range rooms {
		for _, d := range append(append([]string{}, r.Bindings.Wearables...), r.Bindings.Sensors...) {
			put(SeriesBindingInfo, "site", r.Site, "room", r.Name, "device", d)
		}
		o, ok := byRoom[r.ID]
		if !ok {
			continue
		}
		put(SeriesRoomOccupied, "site", r.Site, "room", r.Name)
		for _, d := range r.Bindings.Wearables {
			put(SeriesOccupantInfo, "site", r.Site, "room", r.Name, "case_id", o.CaseID, "device", d)
		}
		if err := w.signals(ctx, now, r, o, put); err != nil {
			errs = append(errs, err)
		}
	}
	if err := w.missedRounds(ctx, now, rooms, occs, put); err != nil {
		errs = append(errs, err)
	}
	if err := w.publish(ctx, now, cur); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// publish appends cur and staleness markers for what was published before and is not any more.
func (w *Ward) publish(ctx context.Context, now time.Time, cur map[string]store.Sample) error {
	if w.deps.Appender == nil {
		return nil
	}
	samples := make([]store.Sample, 0, len(cur)+len(w.published))
	for _, s := range cur {
		samples = append(samples, s)
	}
	for k, s := range w.published {
		if _, ok := cur[k]; !ok {
			s.T, s.V = now.UnixMilli(), math.Float64frombits(value.StaleNaN)
			samples = append(samples, s)
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].Name < samples[j].Name })
	if err := w.deps.Appender.Append(ctx, samples); err != nil {
		var rej *store.RejectedError
		if !errors.As(err, &rej) {
			return fmt.Errorf("ward: publish series: %w", err) // keep w.published: retry the markers next time
		}
	}
	w.published = cur
	return nil
}

// signals evaluates "wearable removed" and "possible leave" for the occupied room r.
func (w *Ward) signals(ctx context.Context, now time.Time, r Room, o Occupancy, put func(string, ...string)) error {
	sc := w.cfg.Signals
	from := now.Add(-sc.Recent)
	site := w.Site(r.Site)
	night := site.Night(now)
	var motion []Point
	if night && r.Bindings.Camera != "" {
		var err error
		motion, err = w.deps.Reader.Points(ctx, "camera_motion_score",
			map[string]string{"site": r.Site, "camera": r.Bindings.Camera, "zone": r.Bindings.Zone}, from, now)
		if err != nil {
			return err
		}
	}
	doorSeen, leaveSeen := false, false
	for _, d := range r.Bindings.Wearables {
		match := map[string]string{"site": r.Site, "device": d}
		temps, err := w.deps.Reader.Points(ctx, MetricBodyTemperature, match, from, now)
		if err != nil {
			return err
		}
		heart, err := w.deps.Reader.Points(ctx, MetricHeartRate, match, from, now)
		if err != nil {
			return err
		}
		if WearableRemoved(sc, now, temps, heart) {
			put(SeriesWearableRemoved, "site", r.Site, "room", r.Name, "case_id", o.CaseID, "device", d)
		}
		if len(motion) == 0 {
			continue
		}
		rssi, err := w.deps.Reader.Points(ctx, "rssi", match, now.Add(-30*time.Minute), now)
		if err != nil {
			return err
		}
		door, leave := PossibleLeave(sc, now, LeaveInputs{Night: night, Motion: motion, Temps: temps, RSSI: rssi})
		doorSeen, leaveSeen = doorSeen || door, leaveSeen || leave
	}
	if len(r.Bindings.Wearables) == 0 && len(motion) > 0 {
		doorSeen, _ = PossibleLeave(sc, now, LeaveInputs{Night: night, Motion: motion})
	}
	if leaveSeen {
		put(SeriesPossibleLeave, "site", r.Site, "room", r.Name, "case_id", o.CaseID)
	}
	key := fmt.Sprint(r.ID)
	if doorSeen && !w.doorOpen[key] {
		kind := EventDoorNight
		if leaveSeen {
			kind = EventPossibleLeave
		}
		if err := w.st.AddEvent(ctx, Event{Site: r.Site, Room: r.Name, CaseID: o.CaseID, Kind: kind, Time: now,
			Detail: "door zone " + r.Bindings.Camera + "/" + r.Bindings.Zone}); err != nil {
			return err
		}
	}
	w.doorOpen[key] = doorSeen
	return nil
}

// missedRounds publishes one series per active occupant missing from their site's last closed round.
func (w *Ward) missedRounds(ctx context.Context, now time.Time, rooms []Room, occs []Occupancy, put func(string, ...string)) error {
	sites := map[string]bool{}
	for _, r := range rooms {
		sites[r.Site] = true
	}
	var errs []error
	for site := range sites {
		sc := w.Site(site)
		round, ok := sc.LastClosed(now)
		if !ok {
			continue
		}
		rows, err := w.roundRows(ctx, site, round, now, rooms, occs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, row := range rows {
			if row.Result.State == RoundMissing {
				put(SeriesRoundMissed, "site", site, "room", row.Room, "case_id", row.CaseID, "round", roundLabel(round, sc.Location))
			}
		}
	}
	return errors.Join(errs...)
}

// RoundRow is one occupant in a round.
type RoundRow struct {
	OccupancyID int64       `json:"occupancy_id"`
	Room        string      `json:"room"`
	CaseID      string      `json:"case_id"`
	Result      RoundResult `json:"result"`
}

// roundRows decides every active occupant of site checked in before the round.
func (w *Ward) roundRows(ctx context.Context, site string, round, now time.Time, rooms []Room, occs []Occupancy) ([]RoundRow, error) {
	sc := w.Site(site)
	manual, err := w.st.ManualReadings(ctx, site, round.Add(-sc.Window), round.Add(sc.Window+time.Millisecond))
	if err != nil {
		return nil, err
	}
	roomByID := map[int64]Room{}
	for _, r := range rooms {
		roomByID[r.ID] = r
	}
	out := []RoundRow{}
	for _, o := range occs {
		if o.Site != site || o.Start.After(round) {
			continue
		}
		var readings []Reading
		for _, m := range manual {
			if m.OccupancyID == o.ID && m.Metric == MetricBodyTemperature {
				readings = append(readings, Reading{Time: m.Time, Value: m.Value, Manual: true, By: m.EnteredBy, Round: m.Round})
			}
		}
		for _, d := range roomByID[o.RoomID].Bindings.Wearables {
			pts, err := w.deps.Reader.Points(ctx, MetricBodyTemperature, map[string]string{"site": site, "device": d},
				round.Add(-sc.Window), round.Add(sc.Window))
			if err != nil {
				return nil, err
			}
			for _, p := range pts {
				readings = append(readings, Reading{Time: p.T, Value: p.V, Device: d})
			}
		}
		out = append(out, RoundRow{OccupancyID: o.ID, Room: o.Room, CaseID: o.CaseID,
			Result: DecideRound(round, sc.Window, now, readings, sc.FeverThreshold)})
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].Room, out[j].Room) < 0 })
	return out, nil
}
