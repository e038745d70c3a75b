package browser_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSiteOffscreenTiles opens a site with more sensor tiles than a phone's screen holds. A tile far below the
// screen must not be redrawn while it is there, however often its device reports (a phone's page spent most
// of its time drawing tiles nobody saw: issue 10's total blocking time), and must say that what it holds is
// not the latest (aria-busy) while its marks stay current; scrolled into view, it must show the device's
// latest values at once, never the stale ones it held.
func TestSiteOffscreenTiles(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: builds citywatch and runs chromium")
	}
	testenvChromium(t)
	d := startDemo(t, buildCitywatch(t), "--devices", "120")
	var devs struct {
		Devices []struct {
			Labels map[string]string `json:"labels"`
		} `json:"devices"`
	}
	want := 0
	eventually(t, 60*time.Second, func() string {
		if _, err := d.getJSON("/api/devices", &devs); err != nil {
			return err.Error()
		}
		want = 0
		for _, dv := range devs.Devices {
			if dv.Labels["site"] == site {
				want++
			}
		}
		if want < 16 {
			return fmt.Sprintf("%d devices at %s so far, want ≥ 16", want, site)
		}
		return ""
	})

	b := newBrowser(t, d.base)
	b.login("admin", d.password)
	b.resize(phone)
	b.open("#/site/" + site)
	b.waitJS(30*time.Second, fmt.Sprintf(`document.querySelectorAll(".sensor-tile").length >= %d && window.__citywatchLive?.state === "open"`, want))

	// The last tile is screens below the viewport.
	far := `[...document.querySelectorAll(".sensor-tile")].at(-1)`
	dev := eval[string](b, far+".dataset.device")
	if below := eval[float64](b, far+".getBoundingClientRect().top / innerHeight"); below < 2 {
		t.Fatalf("the last tile (%s) is %.1f screens down, want ≥ 2: the test needs a tile far off screen", dev, below)
	}
	tile := fmt.Sprintf(`document.querySelector('.sensor-tile[data-device=%s]')`, js(dev))
	eval[bool](b, fmt.Sprintf(`(() => {
		window.__e2eRedraws = 0;
		new MutationObserver((list) => { window.__e2eRedraws += list.length; })
			.observe(%s.querySelector(".values"), { childList: true, subtree: true, characterData: true });
		window.__e2eBatches = window.__citywatchLive.byKind.batch;
		return true;
	})()`, tile))
	// Five live batches (about five seconds; the device reports every second): more than the three seconds
	// after which the page used to catch off-screen tiles up.
	b.waitJS(30*time.Second, `window.__citywatchLive.byKind.batch >= window.__e2eBatches + 5`)
	if n := eval[float64](b, "window.__e2eRedraws"); n != 0 {
		t.Errorf("the off-screen tile of %s was redrawn %v times while off screen, want 0", dev, n)
	}
	if busy := eval[string](b, tile+`.getAttribute("aria-busy") || ""`); busy != "true" {
		t.Errorf("the off-screen tile of %s holds newer data than it shows but has aria-busy %q, want \"true\"", dev, busy)
	}
	if fresh := eval[string](b, tile+".dataset.fresh"); fresh != "live" {
		t.Errorf("the off-screen tile of %s has data-fresh %q, want live (its marks are swept)", dev, fresh)
	}

	// Scrolled into view, the tile shows what the live layer last handed the page for that device, in the
	// frames right after it came into view: compared in the page, within the same task.
	check := fmt.Sprintf(`(async () => {
		const tile = %[1]s;
		tile.scrollIntoView({ block: "center" });
		for (let i = 0; i < 3; i++) await new Promise((r) => requestAnimationFrame(r));
		await new Promise((r) => setTimeout(r, 0));
		// The page's own module instances: the app loads them under its versioned prefix.
		const base = document.querySelector("script[type=module]").src.replace(/app\.js$/, "");
		const [L, D] = await Promise.all([import(base + "live.js"), import(base + "dom.js")]);
		const dv = L.latest("devices").find((x) => x.id === %[2]s);
		const got = Object.fromEntries([...tile.querySelectorAll(".values dd[data-metric]")]
			.map((dd) => [dd.dataset.metric, dd.textContent.replace(/^[⚠▲] /, "")]));
		const bad = Object.entries(dv.last_values || {}).filter(([k]) => k in got && got[k] !== D.fmtValue(k, dv.last_values[k]))
			.map(([k, v]) => k + ": shows " + got[k] + ", latest " + D.fmtValue(k, v));
		if (tile.getAttribute("aria-busy")) bad.push("still aria-busy");
		if (!Object.keys(got).length) bad.push("no values shown");
		return bad.join("; ");
	})()`, tile, js(dev))
	bad, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](check, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate the scrolled tile: %v", err)
	}
	if bad != "" {
		t.Errorf("the tile of %s, scrolled into view, does not show its device's latest values: %s", dev, bad)
	}
}
