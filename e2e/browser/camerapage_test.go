package browser_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCameraChartsRefresh: the camera page's health charts refresh themselves (30 s unless the user picks
// another period, or off), in place. And an alert's page speaks the UI's language: the Fever alert's summary in
// Vietnamese (summary_vi). The refresh is a timer in the page, the same at any size: it is checked at desktop
// size; the camera page's axe runs at both sizes are TestAlertNoiseAndEvidence's (axedElsewhere).
func TestCameraChartsRefresh(t *testing.T) {
	d, b := newSharedAdmin(t)
	const cam = "cam1"
	t.Run("charts refresh in place, and stop when off", func(t *testing.T) {
		b.t = t
		b.resize(desktop)
		b.open("#/camera/" + cam)
		b.waitJS(30*time.Second, `Number(document.querySelector(".charts")?.dataset.drawn || 0) >= 1 && document.querySelectorAll(".charts .plot canvas, .charts .plot p").length >= 3`)
		if got := eval[string](b, `document.querySelector("#cam-refresh").value`); got != "30" {
			t.Errorf("auto-refresh %q by default, want 30 (s)", got)
		}
		// The shortest period: the charts draw again by themselves, without a reload or a click on a range.
		eval[any](b, `(() => { const s = document.querySelector("#cam-refresh"); s.value = "10"; s.dispatchEvent(new Event("change")); window.__chartBox = document.querySelector(".charts figure"); return null; })()`)
		b.waitJS(40*time.Second, `Number(document.querySelector(".charts").dataset.drawn) >= 2`)
		// In place: the same figures, not rebuilt (nothing flickers or shifts).
		if !eval[bool](b, `document.querySelector(".charts figure") === window.__chartBox`) {
			t.Errorf("a refresh rebuilt the charts' figures instead of redrawing them in place")
		}
		// Off stops it. It is switched off the moment a drawing completes: only the latest drawing counts
		// itself, so none is then under way that could land after the switch and look like a refresh.
		eval[any](b, `(() => { window.__drawn = undefined; const c = document.querySelector(".charts");
			new MutationObserver((_, o) => { o.disconnect(); const s = document.querySelector("#cam-refresh"); s.value = "0";
				s.dispatchEvent(new Event("change")); window.__drawn = Number(c.dataset.drawn); }).observe(c, {attributeFilter: ["data-drawn"]});
			return null; })()`)
		b.waitJS(40*time.Second, `window.__drawn !== undefined`)
		deadline := time.Now().Add(12 * time.Second)
		for time.Now().Before(deadline) {
			if eval[bool](b, `Number(document.querySelector(".charts").dataset.drawn) > window.__drawn`) {
				t.Fatalf("the charts still refresh with auto-refresh off")
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("alert page in Vietnamese", func(t *testing.T) {
		b.t = t
		var id int64
		eventually(t, 120*time.Second, func() string {
			var list struct {
				Alerts []apiAlert `json:"alerts"`
			}
			if _, err := d.getJSON("/api/alerts?state=firing", &list); err != nil {
				return err.Error()
			}
			for _, a := range list.Alerts {
				if a.Rule == "Fever" {
					id = a.ID
					return ""
				}
			}
			return "no firing Fever alert yet"
		})
		b.setLang("vi")
		defer b.setLang("en")
		b.open(fmt.Sprintf("#/alert/%d", id))
		b.waitJS(20*time.Second, `document.querySelector("main h1 + p")?.textContent`)
		if got := eval[string](b, `document.querySelector("main h1 + p").textContent`); !strings.Contains(got, "Sốt") {
			t.Errorf("the Fever alert's page in Vietnamese says %q, want its summary_vi (Sốt …)", got)
		}
	})
}
