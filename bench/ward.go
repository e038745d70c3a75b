package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"citywatch/app"
)

// wardBenchRooms is the size of the ward in the ward rows: a 500-room quarantine hotel.
const wardBenchRooms = 500

const wardBenchSite = "ward-500"

// wardConfig is a plain serve configuration (the ward is always on).
const wardConfig = appConfigHead + `alerts:
  rule_files: [rules.yaml]
`

// wardRows measures the server time of the ward view (GET /api/ward/{site}: every room, its bindings and its
// occupant with personal fields, one audited roster view) and of the round view (GET /api/ward/{site}/rounds:
// today's rounds, each occupant's reading nearest each round from the TSDB) for a 500-room site with an
// occupant and a reporting wearable in every room, against the device list the site page starts from
// (GET /api/devices: the same 500 wearables). Then the browser rows (wardPageRows): first paint of the ward
// and round views against the site page of the same site.
func wardRows(add func(row), skip bool, loads int) {
	if skip {
		return
	}
	const what = "ward view"
	var user, password string
	r, err := startAppWith(wardConfig, "groups: []\n", app.Options{OnInitialAdmin: func(u, p string) { user, password = u, p }})
	if err != nil {
		failed(add, what, err)
		return
	}
	defer r.stop()
	if err := seedWard(r); err != nil {
		failed(add, what, err)
		return
	}
	const n = 21
	base := "/api/ward/" + wardBenchSite
	ward, err := medianGet(r, base, n)
	if err != nil {
		failed(add, what, err)
		return
	}
	rounds, err := medianGet(r, base+"/rounds", n)
	if err != nil {
		failed(add, "round view", err)
		return
	}
	devices, err := medianGet(r, "/api/devices", n)
	if err != nil {
		failed(add, what, err)
		return
	}
	add(row{fmt.Sprintf("ward view server time: GET %s, %d rooms each with an occupant (personal fields, audited) and a wearable (median of %d)", base, wardBenchRooms, n),
		ms(ward), ms(devices) + fmt.Sprintf(" (GET /api/devices, the site page's %d wearables)", wardBenchRooms), ratio(ward.Seconds(), devices.Seconds()), ""})
	add(row{fmt.Sprintf("round view server time: GET %s/rounds, today's rounds for %d occupants (readings from the TSDB; median of %d)", base, wardBenchRooms, n),
		ms(rounds), ms(devices) + " (the same device list)", ratio(rounds.Seconds(), devices.Seconds()), ""})
	wardPageRows(add, r.base, user, password, loads)
}

// seedWard creates the rooms with their wearables, checks an occupant into each, and publishes one
// body_temperature per wearable, then waits until the device list has them all.
func seedWard(r *runningApp) error {
	wardStayStart := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	base := "/api/ward/" + wardBenchSite
	for i := range wardBenchRooms {
		wearable := fmt.Sprintf("wearable-%04d", i)
		var room struct{ ID int64 }
		if err := postJSON(r, base+"/rooms", map[string]any{"name": fmt.Sprintf("r%04d", i), "floor": fmt.Sprint(i / 50),
			"bindings": map[string]any{"wearables": []string{wearable}, "sensors": []string{}}}, &room); err != nil {
			return err
		}
		// In quarantine since yesterday: each occupant owes every round of today, whatever the time of day the
		// bench runs (checked in now, after the day's last round, nobody would owe one: an empty round table).
		if err := postJSON(r, base+"/checkin", map[string]any{"room_id": room.ID, "name": fmt.Sprintf("Person %d", i),
			"contact": fmt.Sprintf("+84 90 000 %04d", i), "start": wardStayStart}, nil); err != nil {
			return err
		}
	}
	c, err := mqttConnect(r.mqtt, "bench-ward")
	if err != nil {
		return err
	}
	defer c.Disconnect(100)
	for i := range wardBenchRooms {
		topic := fmt.Sprintf("city/d1/%s/wearable-%04d", wardBenchSite, i)
		if err := mqttPublish(c, topic, fmt.Sprintf(`{"body_temperature":%.1f,"heart_rate":72}`, 36.5+float64(i%20)/10)); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var list struct {
			Devices []json.RawMessage `json:"devices"`
		}
		if code, err := r.getJSON("/api/devices", &list); err == nil && code == 200 && len(list.Devices) >= wardBenchRooms {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the %d wearables did not all appear in /api/devices within 60s", wardBenchRooms)
		}
		time.Sleep(50 * time.Millisecond) // polling
	}
}

// medianGet is the median time of n GETs of path (each read to the end, 200 required).
func medianGet(r *runningApp, path string, n int) (time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		code, err := r.getJSON(path, nil)
		if err != nil {
			return 0, err
		}
		if code != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %d", path, code)
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2], nil
}

// postJSON posts v as the bench admin and decodes the answer into out (if not nil); 2xx required.
func postJSON(r *runningApp, path string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	resp, err := benchRequest("POST", r.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}
