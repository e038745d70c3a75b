package browser_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSilenceDialogSaysResolved: the issue's "an alert resolved while its silence dialog was open and nothing
// said so". The dialog opens on a firing alert; the alert resolves over the live stream; the dialog says so
// before the user submits.
func TestSilenceDialogSaysResolved(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: runs chromium")
	}
	testenvChromium(t)
	t.Parallel()
	base, send := fakeLiveServer(t) // livestate_test.go
	b := newBrowser(t, base)
	b.do(30*time.Second, navigate(base+"/"))
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`localStorage.setItem("citywatch.lang", "en"),
		Promise.all(["i18n", "alertui", "live"].map((m) => import("/ui/js/" + m + ".js")))
		.then(async ([I, A, L]) => { await I.loadI18n(); Object.assign(window, {A, L}); L.subscribe("alerts", () => {}); return true; })`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load the UI modules: %v", err)
	}
	b.waitJS(10*time.Second, `window.__citywatchLive.state === "open" && window.L.latest("alerts") !== undefined`)
	alert := func(state string) string {
		return fmt.Sprintf("event: alert\ndata: {\"id\":5,\"rule\":\"CameraOffline\",\"state\":%q,\"active_at\":%q,"+
			"\"labels\":{\"severity\":\"warning\",\"site\":\"q-hotel-2\",\"camera\":\"cam3\"}}\n\n", state, time.Now().UTC().Format(time.RFC3339Nano))
	}
	send <- alert("firing")
	b.waitJS(10*time.Second, `window.L.latest("alerts").some((a) => a.id === 5)`)
	eval[any](b, `(window.A.silenceDialog(window.L.latest("alerts").find((a) => a.id === 5)), null)`)
	warn := `document.querySelector("dialog[open] [data-state-changed]")`
	b.waitJS(10*time.Second, warn)
	if !eval[bool](b, warn+`.hidden`) {
		t.Errorf("the dialog warns before anything changed: %q", eval[string](b, warn+`.textContent`))
	}
	send <- alert("resolved")
	b.waitJS(10*time.Second, `!`+warn+`.hidden`)
	if got := eval[string](b, warn+`.textContent`); !strings.Contains(got, "firing") || !strings.Contains(got, "resolved") {
		t.Errorf("the dialog says %q, want that the alert was firing and is now resolved", got)
	}
}

// TestAlertDetailAndGroups: the alert detail page shows the values of the alert's series at the moment it
// fired (the fever's body temperature, past its 38 °C limit), and the alert list's groups count their members
// right (each group's count, its badge and its rows agree).
func TestAlertDetailAndGroups(t *testing.T) {
	d, b := newSharedAdmin(t)
	b.resize(desktop)
	t.Run("values at the time it fired", func(t *testing.T) {
		b.t = t
		var id int64
		eventually(t, 150*time.Second, func() string {
			var list struct{ Alerts []apiAlert }
			if _, err := d.getJSON("/api/alerts?state=firing", &list); err != nil {
				return err.Error()
			}
			for _, a := range list.Alerts {
				if a.Rule == "Fever" && a.Labels["site"] == site {
					id = a.ID
					return ""
				}
			}
			return "no Fever alert firing yet"
		})
		b.open(fmt.Sprintf("#/alert/%d", id))
		cell := `document.querySelector('#al-values-h + div tr[data-metric="body_temperature"] td.num')`
		b.waitJS(30*time.Second, cell)
		text := eval[string](b, cell+`.textContent`)
		num, unit, _ := strings.Cut(strings.TrimSpace(text), " ")
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v <= 38 || unit != "°C" {
			t.Errorf("the fever alert's body temperature at firing reads %q, want a value past 38 with its unit °C", text)
		}
	})
	t.Run("group counts", func(t *testing.T) {
		b.t = t
		b.open("#/alerts/history")
		b.waitJS(30*time.Second, `document.querySelector("details.alert-group")`)
		bad := eval[[]string](b, `[...document.querySelectorAll("details.alert-group")].filter((g) => {
			const n = Number(g.dataset.count), rows = g.querySelectorAll("tr[data-alert-id]").length;
			return !(n >= 1 && rows === n && g.querySelector("summary .count").textContent.includes(String(n)));
		}).map((g) => g.dataset.group + ": count " + g.dataset.count + ", rows " + g.querySelectorAll("tr[data-alert-id]").length + ", badge " + g.querySelector("summary .count")?.textContent)`)
		if len(bad) > 0 {
			t.Errorf("groups whose count disagrees with their rows: %v", bad)
		}
	})
}
