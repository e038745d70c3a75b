package main_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"citywatch/alerts"
	"citywatch/deploy/rules"
	"citywatch/internal/testenv"
	"citywatch/ward/wardtest"
)

// send sends an authenticated request with a JSON body and decodes the JSON answer into v (when not nil).
func send(t *testing.T, method, url, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s %s: %d %v: %s", method, url, resp.StatusCode, err, data)
		}
	}
	return resp.StatusCode
}

// getBody is an authenticated GET returning status and body.
func getBody(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type wardAlert struct {
	ID          int64             `json:"id"`
	Rule        string            `json:"rule"`
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// firing returns the firing alerts of rule for case id caseID, or why there are none.
func firing(t *testing.T, base, rule, caseID string) ([]wardAlert, string) {
	var list struct{ Alerts []wardAlert }
	if code, err := getJSON(base, "/api/alerts?state=firing&limit=1000", &list); err != nil || code != 200 {
		return nil, fmt.Sprintf("/api/alerts: %d %v", code, err)
	}
	var out []wardAlert
	var seen []string
	for _, a := range list.Alerts {
		seen = append(seen, a.Rule+a.Labels["case_id"])
		if a.Rule == rule && a.Labels["case_id"] == caseID {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Sprintf("no firing %s for %s; firing: %v", rule, caseID, seen)
	}
	return out, ""
}

// TestWardEndToEnd drives the ward through the real binary: rooms and check-ins over the API, the simulator's
// wearable with its fever fault bound to a room, the Fever alert naming room and case id, a round closing with
// an occupant missing (WardRoundMissed naming them) and a nurse's late entry resolving it, the daily report
// (CSV) and the FHIR bundle validated, and the release suppressing the fever alert of the now empty room.
func TestWardEndToEnd(t *testing.T) {
	e2e(t)
	// The default pack's Fever rule (the occupant join and its summary), held for 2s instead of 2m.
	pack, err := alerts.ParseRuleFile(rules.DefaultName, []byte(rules.Default))
	if err != nil {
		t.Fatal(err)
	}
	var fever alerts.Rule
	for _, r := range pack {
		if r.Alert == "Fever" {
			fever = r
		}
	}
	ruleFile, _ := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "e2e", "rules": []any{map[string]any{
		"alert": "Fever", "expr": fever.Expr, "for": "2s", "labels": fever.Labels, "annotations": fever.Annotations}}}}})
	// A round two minutes ago with a one-minute window: closed by the time the occupants are checked in.
	now := time.Now().UTC()
	round := now.Add(-2 * time.Minute).Truncate(time.Minute)
	cw := newServe(t, withRules(string(ruleFile)), withAlerts(), withYAML(fmt.Sprintf(`ward:
  interval: 1s
  sites:
    - site: q-hotel-1
      time_zone: UTC
      rounds: [%q]
      round_window: 1m
`, round.Format("15:04"))))
	base := cw.base()
	p := cw.start(t)
	defer p.stop()

	ward := base + "/api/ward/q-hotel-1"
	var room1, room2 struct{ ID int64 }
	if code := send(t, "POST", ward+"/rooms", `{"name":"101","floor":"1","bindings":{"wearables":["wearable-001"],"camera":"cam1","zone":"door"}}`, &room1); code != 201 {
		t.Fatalf("create room 101: %d", code)
	}
	if code := send(t, "POST", ward+"/rooms", `{"name":"102"}`, &room2); code != 201 {
		t.Fatalf("create room 102: %d", code)
	}
	if code := send(t, "PUT", fmt.Sprintf("%s/rooms/%d/bindings", ward, room2.ID), `{"wearables":["wearable-999"]}`, nil); code != 200 {
		t.Fatalf("bind room 102: %d", code)
	}
	start := now.Add(-time.Hour).Format(time.RFC3339)
	var occ1, occ2 struct {
		ID     int64
		CaseID string `json:"case_id"`
	}
	if code := send(t, "POST", ward+"/checkin", fmt.Sprintf(`{"room_id":%d,"case_id":"Q-E2E-1","name":"Alice Example","contact":"+1 555","start":%q}`, room1.ID, start), &occ1); code != 201 {
		t.Fatalf("check in 101: %d", code)
	}
	if code := send(t, "POST", ward+"/checkin", fmt.Sprintf(`{"room_id":%d,"case_id":"Q-E2E-2","start":%q}`, room2.ID, start), &occ2); code != 201 {
		t.Fatalf("check in 102: %d", code)
	}

	// The simulator's first wearable (wearable-001 at q-hotel-1) runs a fever from the start.
	sim := testenv.StartProcess(t, binPath, nil, "simulate", "sensors", "--broker", cw.broker(), "--devices", "2",
		"--rate", "2", "--faults", "fever=wearable-001@0s")
	defer sim.Stop(10 * time.Second) //nolint:errcheck // the simulator's exit status is not under test

	// Missed round: Q-E2E-2's wearable never reported; the alert names room and case.
	var missed []wardAlert
	eventually(t, 60*time.Second, func() (msg string) { missed, msg = firing(t, base, "WardRoundMissed", "Q-E2E-2"); return msg })
	if missed[0].Labels["room"] != "102" || !strings.Contains(missed[0].Annotations["summary"], "case Q-E2E-2 in room 102") {
		t.Errorf("missed-round alert: %+v", missed[0])
	}
	// A nurse enters the round's reading late: the alert resolves.
	if code := send(t, "POST", fmt.Sprintf("%s/occupancies/%d/readings", ward, occ2.ID),
		fmt.Sprintf(`{"value":36.9,"round":%q}`, round.Format(time.RFC3339)), nil); code != 201 {
		t.Fatalf("manual reading: %d", code)
	}
	eventually(t, 30*time.Second, func() string {
		if _, msg := firing(t, base, "WardRoundMissed", "Q-E2E-2"); msg == "" {
			return "WardRoundMissed for Q-E2E-2 still firing after the late entry"
		}
		return ""
	})

	// Fever: the alert names room 101 and the case id, never the name.
	var fevers []wardAlert
	eventually(t, 3*time.Minute, func() (msg string) { fevers, msg = firing(t, base, "Fever", "Q-E2E-1"); return msg })
	f := fevers[0]
	if f.Labels["room"] != "101" || f.Labels["device"] != "wearable-001" ||
		!strings.HasPrefix(f.Annotations["summary"], "Fever in room 101 at q-hotel-1: case Q-E2E-1 reads 3") {
		t.Errorf("fever alert: %+v", f)
	}
	if strings.Contains(fmt.Sprint(f), "Alice") {
		t.Errorf("the alert names the occupant: %+v", f)
	}

	// Daily report (CSV) and FHIR export.
	code, body := getBody(t, ward+"/report?format=csv")
	if code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("report CSV: %v %q", err, body)
	}
	if r := recs[1]; r[1] != "Q-E2E-1" || r[4] < "38" || !strings.Contains(r[8], "Fever firing") {
		t.Errorf("report row of Q-E2E-1: %q", r)
	}
	if r := recs[2]; r[1] != "Q-E2E-2" || r[7] != "1" || r[6] != "1" || r[5] != "1" {
		t.Errorf("report row of Q-E2E-2 (one round due, done by the manual entry): %q", r)
	}
	if strings.Contains(string(body), "Alice") {
		t.Error("the report names the occupant")
	}
	code, body = getBody(t, ward+"/fhir")
	if code != 200 {
		t.Fatalf("fhir: %d %s", code, body)
	}
	codes, err := wardtest.ValidateFHIRBundle(body)
	if err != nil {
		t.Fatalf("FHIR bundle: %v", err)
	}
	if codes[wardtest.LOINCBodyTemp] < 2 || codes[wardtest.LOINCHeartRate] < 1 {
		t.Errorf("FHIR observations by LOINC code: %v", codes)
	}

	// Release: the room has no active occupant, so its wearable's fever is suppressed.
	if code := send(t, "POST", fmt.Sprintf("%s/occupancies/%d/status", ward, occ1.ID), `{"status":"released"}`, nil); code != 200 {
		t.Fatalf("release: %d", code)
	}
	eventually(t, 30*time.Second, func() string {
		var list struct{ Alerts []wardAlert }
		if code, err := getJSON(base, "/api/alerts?state=firing&limit=1000", &list); err != nil || code != 200 {
			return fmt.Sprintf("/api/alerts: %d %v", code, err)
		}
		for _, a := range list.Alerts {
			if a.Rule == "Fever" && a.Labels["device"] == "wearable-001" && a.Labels["site"] == "q-hotel-1" {
				return fmt.Sprintf("fever of the vacated room still firing: %+v", a.Labels)
			}
		}
		return ""
	})
}
