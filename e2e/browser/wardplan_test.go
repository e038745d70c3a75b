package browser_test

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWardRoomsOnPlan: an admin places a ward room on the site plan like a device (the Place button, then a
// drag), the position is kept (the plan API, a reload), the room's marker says its live state in words — the
// demo's room without a wearable missed the last round, then a febrile reading entered for that round turns it
// to fever — naming the case id only; the placement is audited; axe stays clean.
func TestWardRoomsOnPlan(t *testing.T) {
	d, b := newAdminDemo(t)
	b.resize(desktop)
	img, err := os.ReadFile(planPNG(t))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", d.base+"/api/plans/"+site+"/image", bytes.NewReader(img))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload the plan: HTTP %d", resp.StatusCode)
	}
	type room struct {
		ID, Name, State string
		CaseID          string `json:"case_id"`
		X, Y            float64
	}
	var pl struct {
		Rooms    []room `json:"rooms"`
		Unplaced []room `json:"unplaced_rooms"`
	}
	const roomName, caseID = "1-M1", "Q-DEMO-M1" // the demo's room without a wearable (app/demo_ward.go)
	var target room
	eventually(t, 20*time.Second, func() string {
		if _, err := d.getJSON("/api/plans/"+site, &pl); err != nil {
			return err.Error()
		}
		for _, r := range pl.Unplaced {
			if r.Name == roomName {
				target = r
				return ""
			}
		}
		return fmt.Sprintf("no unplaced room %s in %+v", roomName, pl.Unplaced)
	})
	if target.State != "missing" || target.CaseID != caseID {
		t.Fatalf("room %s: state %q case %q, want missing %s", roomName, target.State, target.CaseID, caseID)
	}

	b.open("#/plan/" + site)
	place := fmt.Sprintf(`[data-place=%s]`, js("room/"+target.ID))
	b.waitJS(30*time.Second, `document.querySelector(`+js(place)+`)`)
	b.do(10*time.Second, chromedp.Click(chromedp.CSS(place)))
	marker := fmt.Sprintf(`document.querySelector('.plan-marker[data-kind="room"][data-id=%s]')`, js(target.ID))
	b.waitJS(10*time.Second, marker)
	r := eval[[]float64](b, `(() => { const m = `+marker+`.getBoundingClientRect(), i = document.querySelector(".plan-image").getBoundingClientRect();
		return [m.left + m.width / 2, m.top + m.height / 2, i.left + i.width * 0.6, i.top + i.height * 0.3]; })()`)
	b.do(20*time.Second, chromedp.DragAndDropXY(r[0], r[1], r[2], r[3], 8))
	eventually(t, 20*time.Second, func() string {
		if _, err := d.getJSON("/api/plans/"+site, &pl); err != nil {
			return err.Error()
		}
		for _, rm := range pl.Rooms {
			if rm.ID == target.ID && math.Abs(rm.X-0.6) < 0.02 && math.Abs(rm.Y-0.3) < 0.02 {
				return ""
			}
		}
		return fmt.Sprintf("rooms %+v: want %s at 0.6, 0.3", pl.Rooms, roomName)
	})

	// Reload: the room is where it was dropped and says it missed the round, by case id.
	b.open("#/plan/" + site)
	at := marker + ` && Math.abs(parseFloat(` + marker + `.style.left) - 60) < 2 && Math.abs(parseFloat(` + marker + `.style.top) - 30) < 2`
	b.waitJS(20*time.Second, at+` && `+marker+`.dataset.state === "warning"`)
	text := eval[string](b, marker+`.textContent`)
	for _, want := range []string{"Room " + roomName, "missed the", caseID, "▲"} {
		if !strings.Contains(text, want) {
			t.Errorf("room marker %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "Demo Person") {
		t.Errorf("room marker %q names the occupant", text)
	}
	if v := b.axe(); len(v) > 0 {
		t.Errorf("axe on the site plan with a room: %v", v)
	}

	// A nurse's febrile reading for that round: the marker turns to fever (critical) after a reload.
	var rounds struct {
		Rounds []struct {
			Round string `json:"round"`
			Rows  []struct {
				OccupancyID int64  `json:"occupancy_id"`
				CaseID      string `json:"case_id"`
				Result      struct{ State string }
			} `json:"rows"`
		} `json:"rounds"`
	}
	if _, err := d.getJSON("/api/ward/"+site+"/rounds", &rounds); err != nil {
		t.Fatal(err)
	}
	var occID int64
	var round string
	for _, rd := range rounds.Rounds {
		for _, row := range rd.Rows {
			if row.CaseID == caseID && row.Result.State == "missing" {
				occID, round = row.OccupancyID, rd.Round
			}
		}
	}
	if occID == 0 {
		t.Fatalf("no missed round of %s in %+v", caseID, rounds)
	}
	if code, err := d.request("POST", fmt.Sprintf("/api/ward/%s/occupancies/%d/readings", site, occID),
		map[string]any{"value": 38.9, "round": round}, &map[string]any{}); err != nil || code != http.StatusCreated {
		t.Fatalf("manual reading: %d %v", code, err)
	}
	b.open("#/plan/" + site)
	b.waitJS(20*time.Second, at+` && `+marker+`.dataset.state === "critical" && `+marker+`.textContent.includes("fever at the")`)

	var audit struct {
		Records []struct{ Actor, Target string }
	}
	if _, err := d.getJSON("/api/audit?action=site_plan_place", &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit.Records) == 0 || audit.Records[0].Target != "room "+roomName || audit.Records[0].Actor != "admin" {
		t.Errorf("audit of the placement: %+v", audit.Records)
	}
}
