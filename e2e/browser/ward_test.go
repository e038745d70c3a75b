package browser_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWardPhoneManualEntry: a nurse (health staff of q-hotel-1) signs in on a phone-sized screen, opens the ward,
// sees the occupants with their names, and enters the temperature of an occupant who missed the past round
// (the demo's room without a wearable) in the round view; the round shows it done, manual, with her name, and
// the page never scrolls sideways.
func TestWardPhoneManualEntry(t *testing.T) {
	d := sharedAdminDemo(t)
	t.Parallel()
	const nurse, password = "nurse1", "nurse-password-0123"
	createUser(t, d, nurse, password, "health_staff", "q-hotel-1")
	b := newBrowser(t, d.base)
	b.do(10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch))
	b.login(nurse, password)
	b.route("#/ward/q-hotel-1")

	missing := `document.querySelector('tr[data-case="Q-DEMO-M1"][data-state="missing"] form[data-late="Q-DEMO-M1"]')`
	b.waitJS(30*time.Second, missing)
	b.waitJS(5*time.Second, `document.querySelector('.ward-room[data-room="1-01"]')?.textContent.includes("Demo Person")`)
	if w := eval[int](b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); w > 1 {
		t.Errorf("the ward page scrolls sideways on a phone by %d px", w)
	}
	b.do(10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`form[data-late="Q-DEMO-M1"] input[name=value]`), "37.3"),
		chromedp.Click(chromedp.CSS(`form[data-late="Q-DEMO-M1"] button[type=submit]`)),
	)
	b.waitJS(20*time.Second, `document.querySelector('tr[data-case="Q-DEMO-M1"][data-state="done"]')`)
	cell := eval[string](b, `document.querySelector('tr[data-case="Q-DEMO-M1"][data-state="done"]').textContent`)
	if want := fmt.Sprintf("37.3 °C (manual, %s)", nurse); !strings.Contains(cell, want) {
		t.Errorf("round row %q lacks %q", cell, want)
	}
	// The entry is in the audit trail, by case id.
	var audit struct {
		Records []struct{ Actor, Action, Target string }
	}
	if _, err := d.getJSON("/api/audit?action=ward_manual_reading", &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit.Records) != 1 || audit.Records[0].Actor != nurse || audit.Records[0].Target != "Q-DEMO-M1" {
		t.Errorf("audit of the manual reading: %+v", audit.Records)
	}
}
