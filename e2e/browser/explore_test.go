package browser_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"citywatch/internal/testenv"
)

// TestExploreRangeAndLimits: Explore charts what was asked over the range picked — a preset, or a custom
// span, which the query then covers exactly — refreshes by itself when asked, names the zone under the chart,
// and says the alert rules' limits of the charted metric in words beside the dashed lines (a canvas is not
// read by a screen reader).
func TestExploreRangeAndLimits(t *testing.T) {
	_, b := newSharedAdmin(t)
	b.resize(desktop)

	t.Run("limits in words", func(t *testing.T) {
		b.t = t
		b.open("#/explore?q=body_temperature&range=900")
		b.waitJS(30*time.Second, `document.querySelector(".plot .uplot") && document.querySelector(".plot .zone")`)
		b.waitJS(20*time.Second, `document.querySelector(".plot .limits")`)
		limits := eval[string](b, `document.querySelector(".plot .limits").textContent`)
		if !strings.Contains(limits, "Fever > 38 °C (critical)") {
			t.Errorf("the body temperature chart says its limits as %q, want Fever > 38 °C (critical) among them", limits)
		}
		// A metric no rule watches has no limits line.
		b.open("#/explore?q=humidity&range=900")
		b.waitJS(30*time.Second, `document.querySelector(".plot .uplot")`)
		if n := eval[float64](b, `document.querySelectorAll(".plot .limits").length`); n != 0 {
			t.Errorf("the humidity chart names limits: %q", eval[string](b, `document.querySelector(".plot .limits").textContent`))
		}
	})

	t.Run("custom range", func(t *testing.T) {
		b.t = t
		// Whole minutes: the form's datetime-local fields keep minutes.
		to := time.Now().Add(-5 * time.Minute).Truncate(time.Minute)
		from := to.Add(-20 * time.Minute)
		b.open(fmt.Sprintf("#/explore?q=temperature&range=custom&from=%d&to=%d", from.Unix(), to.Unix()))
		b.waitJS(30*time.Second, `document.querySelector(".plot .uplot, .plot p.muted")`)
		if got := eval[string](b, `document.querySelector("#range").value`); got != "custom" {
			t.Errorf("range picker shows %q, want custom", got)
		}
		want := fmt.Sprintf("start=%d.000&end=%d.000", from.Unix(), to.Unix())
		asked := eval[[]string](b, `performance.getEntriesByType("resource").map((e) => e.name).filter((n) => n.includes("/api/v1/query_range"))`)
		found := false
		for _, u := range asked {
			found = found || strings.Contains(u, want)
		}
		if !found {
			t.Errorf("the custom range asked %v, want a query with %s", asked, want)
		}
	})

	t.Run("auto-refresh", func(t *testing.T) {
		b.t = t
		b.open("#/explore?q=body_temperature&range=900&refresh=10")
		// The page draws twice as it loads: once at once, once more when the rules' limits arrive (the limits
		// line says that one is drawn). Only a drawing after that is a refresh.
		b.waitJS(30*time.Second, `document.querySelector(".plot .uplot") && document.querySelector(".plot .limits")`)
		if got := eval[string](b, `document.querySelector("#refresh").value`); got != "10" {
			t.Errorf("refresh picker shows %q, want 10 (s)", got)
		}
		eval[any](b, `(window.__e2ePlot = document.querySelector(".plot"), null)`)
		// Redrawn by itself within two periods, without a click.
		b.waitJS(30*time.Second, `document.querySelector(".plot .uplot") && document.querySelector(".plot") !== window.__e2ePlot`)
		// Off: the URL forgets the period.
		eval[any](b, `(() => { const s = document.querySelector("#refresh"); s.value = "0"; s.dispatchEvent(new Event("change")); })(), null`)
		b.waitJS(10*time.Second, `!location.hash.includes("refresh=")`)
	})
}

// TestCityMapWithoutTiles: a tile server that cannot be reached (map.tile_url set, no network) leaves the map
// on its plain background with every site on it, and says why there are no tiles.
func TestCityMapWithoutTiles(t *testing.T) {
	b := newRulesPage(t, "city map without tiles")
	// A port nothing listens on: every tile fails at once.
	tiles := "http://" + testenv.FreePort(t) + "/{z}/{x}/{y}.png"
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`localStorage.setItem("citywatch.lang", "en"),
		(window.css = (f) => new Promise((ok, fail) => { const l = document.createElement("link"); l.rel = "stylesheet"; l.href = "/ui/" + f + ".css"; l.onload = ok; l.onerror = fail; document.head.append(l); }),
		css("style"))
		.then(() => Promise.all(["i18n", "citymap"].map((m) => import("/ui/js/" + m + ".js")))
		.then(async ([I, M]) => {
			await I.loadI18n();
			window.I = I;
			const map = new M.CityMap({tile_url: `+js(tiles)+`, attribution: "© tiles"});
			document.body.append(map.root);
			map.setSites([
				{site: "q-hotel-1", name: "Khách sạn cách ly 1", lat: 10.7769, lon: 106.7009, status: "critical", text: "1 fever", href: "#/site/q-hotel-1"},
				{site: "q-hotel-2", name: "Khách sạn cách ly 2", lat: 10.8011, lon: 106.7147, status: "ok", text: "ok", href: "#/site/q-hotel-2"},
			]);
			return true;
		}))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load the UI modules: %v", err)
	}
	// The map was drawn before its stylesheet (the Overview loads plan.css as it opens, the map may come
	// first): failing tiles must not make it grow without end meanwhile. Then the stylesheet arrives.
	b.waitJS(20*time.Second, `document.querySelectorAll(".map-tiles img").length > 0 && [...document.querySelectorAll(".map-tiles img")].every((i) => i.hidden)`)
	if n := eval[float64](b, `document.querySelectorAll(".map-tiles img").length`); n > 64 {
		t.Errorf("%v tiles in a map without its stylesheet: it grows with its tiles", n)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`css("plan").then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load plan.css: %v", err)
	}
	b.waitJS(20*time.Second, `document.querySelectorAll(".map-tiles img").length > 0 && [...document.querySelectorAll(".map-tiles img")].every((i) => i.hidden)`)
	if note, want := eval[string](b, `document.querySelector(".map-note").textContent`), eval[string](b, `window.I.t("map.tiles_failed")`); note != want {
		t.Errorf("the map's note says %q, want %q", note, want)
	}
	// The map fits its pins again once the stylesheet has laid it out (a resize observer's callback, after
	// this script's turn): poll for it.
	inside := `[...document.querySelectorAll(".map-pin")].filter((p) => { const r = p.getBoundingClientRect(), m = document.querySelector(".map-view").getBoundingClientRect();
		return r.width > 0 && r.left >= m.left && r.right <= m.right && r.top >= m.top && r.bottom <= m.bottom; }).length`
	if ok, _ := b.truthyWithin(20*time.Second, inside+` === 2`); !ok {
		t.Errorf("%v of 2 sites shown inside the map without its tiles", eval[float64](b, inside))
	}
	if got := eval[string](b, `document.querySelector('.map-pin[data-site="q-hotel-1"]').textContent`); !strings.Contains(got, "⚠") || !strings.Contains(got, "Khách sạn cách ly 1") {
		t.Errorf("q-hotel-1's pin reads %q, want its icon and name", got)
	}
}
