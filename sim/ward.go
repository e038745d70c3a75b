package sim

import "fmt"

// WardRoom is one simulated quarantine room: a wearable and, when the site has one to spare, a room sensor.
type WardRoom struct {
	Site, Name, Wearable, Sensor string
}

// WardRooms lays the simulated fleet out as ward rooms: every wearable of a site gets a room ("<site
// number>-<nn>", e.g. "1-01"), paired in order with the site's room sensors. WardSeed adds the occupants and
// the rooms without a wearable; the demo (app/demo_ward.go) and `simulate sensors --ward` create them.
func WardRooms(cfg SensorsConfig) []WardRoom {
	cfg = cfg.withDefaults()
	var out []WardRoom
	for si, s := range cfg.Sites {
		var wearables, sensors []string
		for _, d := range layoutDevices(cfg.Devices, cfg.Sites) {
			if d.Site != s.Name {
				continue
			}
			switch d.Kind {
			case KindWearable:
				wearables = append(wearables, d.ID)
			case KindRoom:
				sensors = append(sensors, d.ID)
			}
		}
		for i, w := range wearables {
			r := WardRoom{Site: s.Name, Name: fmt.Sprintf("%d-%02d", si+1, i+1), Wearable: w}
			if i < len(sensors) {
				r.Sensor = sensors[i]
			}
			out = append(out, r)
		}
	}
	return out
}
