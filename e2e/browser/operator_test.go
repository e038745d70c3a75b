package browser_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The sizes the operator's screen is tested at: a desktop and a phone.
var (
	desktop = [2]int64{1440, 900}
	phone   = [2]int64{390, 844}
)

// feverDevice is the demo's wearable that runs a fever (sim Faults.FeverDevice), at site.
const feverDevice = "wearable-001"

// resize sets the viewport; phone-sized is a mobile device with touch.
func (b *browser) resize(size [2]int64) {
	b.t.Helper()
	// A bound, not a wait: the page reflows (and its charts redraw) before the call returns.
	if size == phone {
		b.do(30*time.Second, chromedp.EmulateViewport(size[0], size[1], chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		return
	}
	b.do(30*time.Second, chromedp.EmulateViewport(size[0], size[1]))
}

// open loads a page of the dashboard afresh (a direct visit, not a route change inside the app).
func (b *browser) open(hash string) {
	b.t.Helper()
	// A new query string each time: a navigation that changes only the hash would not reload the page.
	b.loads++
	b.do(30*time.Second, chromedp.Navigate(fmt.Sprintf("%s/?load=%d%s", b.base, b.loads, hash)))
	b.waitJS(20*time.Second, `document.querySelector("#who")?.textContent && document.querySelector("main h1")`)
}

// routeTo switches the app to hash as route does and waits until the new page has drawn (its heading is
// not the previous page's, unless the app was on hash already) and shows ready (a CSS selector).
func (b *browser) routeTo(hash, ready string) {
	b.t.Helper()
	eval[any](b, fmt.Sprintf(`(window.__e2ePrevH1 = location.hash === %[1]q ? null : document.querySelector("main h1"), location.hash = %[1]q, null)`, hash))
	b.waitJS(20*time.Second, fmt.Sprintf(`document.querySelector("main h1") && document.querySelector("main h1") !== window.__e2ePrevH1 && document.querySelector(%s)`, js(ready)))
}

// setLang sets the UI language the way the settings menu remembers it, and reloads.
func (b *browser) setLang(lang string) {
	b.t.Helper()
	eval[any](b, fmt.Sprintf(`localStorage.setItem("citywatch.lang", %q), null`, lang))
	b.do(30*time.Second, chromedp.Reload())
	b.waitJS(20*time.Second, fmt.Sprintf(`document.documentElement.lang === %q && document.querySelector("#nav a")`, lang))
}

// axeSource is testdata/axe.min.js, read once (tests run in parallel).
var axeSource = sync.OnceValues(func() ([]byte, error) { return os.ReadFile(filepath.Join("testdata", "axe.min.js")) })

// axeRun is the axe-core call: every rule that can report a serious or critical violation, and only those.
// A rule with an impact of its own (axe 4.10 gives most rules one) reports every violation at that impact, so
// the rules whose own impact is minor or moderate can never report what the tests look for: they are left out
// (region, which visits every element, among them), which makes a run cheaper and changes no result. Rules
// without an impact of their own, which take it from their checks, still run.
const axeRun = `axe.run(document, {resultTypes: ["violations"], rules: Object.fromEntries(axe._audit.rules
		.filter((r) => r.impact === "minor" || r.impact === "moderate").map((r) => [r.id, {enabled: false}]))})
	.then((r) => r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
		.map((v) => v.impact + " " + v.id + ": " + v.help + " — " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")))`

// axe runs axe-core (testdata/axe.min.js, vendored from npm) on the page and returns its serious and
// critical violations. It loads axe into the page once per document.
func (b *browser) axe() []string {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`)); err != nil {
		b.t.Fatalf("axe: %v", err)
	} else if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](string(src)+";null")); err != nil {
			b.t.Fatalf("load axe-core into the page: %v", firstLine(err))
		}
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe: %v", err)
	}
	return res
}

// axeSizes runs axe on the page as it is at each size in turn (resizing the loaded page, whose layout reflows
// as a phone's or a desktop's would) and reports each violation as an error, prefixed with what, then leaves
// the page at desktop size.
func (b *browser) axeSizes(what string, sizes ...[2]int64) {
	b.t.Helper()
	defer b.resize(desktop)
	for _, size := range sizes {
		b.resize(size)
		for _, v := range b.axe() {
			b.t.Errorf("%s at %dx%d: %s", what, size[0], size[1], v)
		}
	}
}

// firstLine shortens an error that quotes a whole script to its first line.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// axedElsewhere are the pages of pages whose axe run belongs to another test, which checks the same page in a
// fuller state at both sizes: the Overview with its map and the sites' reasons (TestSitePlanAndMap), the camera
// page with its charts drawn and a clip on its timeline, and the alert history with a flapping group
// (TestAlertNoiseAndEvidence). axe runs once per page kind: a second run on the same page finds nothing new and
// costs seconds of CPU on a loaded machine.
var axedElsewhere = map[string]bool{"#/": true, "#/camera/cam1": true, "#/alerts/history": true}

// TestOperatorScreen drives the operator's and the nurse's screens: thresholds you can see, every page
// correct when opened directly, one fetch per list, compressed cached code, accessibility at desktop and
// phone size, and a phone user acknowledging alerts — in English and in Vietnamese. The subtests share one
// demo and run side by side, each signed in in a browser of its own: most of their time is waiting (the
// demo's fever, a page's stream, video), and one after another they were the package's longest test. Only
// the nurse's acknowledgement of the fever waits for the fever tile's subtest, which must see the alert
// still unacknowledged on the tile.
func TestOperatorScreen(t *testing.T) {
	d := sharedAdminDemo(t)
	t.Parallel()
	admin := func(t *testing.T) *browser {
		t.Helper()
		t.Parallel()
		b := newBrowser(t, d.base)
		b.login("admin", d.password)
		b.resize(desktop)
		return b
	}
	feverTileDone := make(chan struct{})

	t.Run("fever tile carries the critical marking and the threshold", func(t *testing.T) {
		b := admin(t)
		defer close(feverTileDone)
		b.open("#/site/" + site)
		tile := fmt.Sprintf(`document.querySelector('.sensor-tile[data-device$=%s]')`, js("/"+feverDevice))
		// The simulated fever rises past 38 °C some seconds after the demo starts.
		b.waitJS(120*time.Second, tile+`?.dataset.level === "critical"`)
		dd := eval[string](b, tile+`.querySelector('dd[data-metric=body_temperature]').textContent`)
		limit := eval[string](b, tile+`.querySelector('.level-critical dd.limit')?.textContent || ""`)
		if !strings.HasPrefix(dd, "⚠") || !strings.Contains(limit, "Fever") || !strings.Contains(limit, "38") || !strings.Contains(limit, "critical") {
			t.Errorf("fever value %q, limit %q: want the ⚠ icon and the words \"critical: Fever > 38 °C\"", dd, limit)
		}
		if lines := eval[string](b, tile+`.querySelector('.spark-box').dataset.thresholds || ""`); !strings.Contains(lines, "Fever > 38") {
			t.Errorf("the fever tile's trend draws limits %q, want Fever > 38", lines)
		}
		// A normal wearable is not marked.
		if n := eval[float64](b, `[...document.querySelectorAll('.sensor-tile[data-device*="/wearable-"]')].filter((e) => e.dataset.level === "ok").length`); n < 1 {
			t.Errorf("no wearable tile is unmarked: every tile is flagged")
		}
		// Once the Fever alert fires, the tile says so too.
		b.waitJS(120*time.Second, tile+`.querySelector(".alert-note:not([hidden])")?.textContent.includes("Fever")`)
		b.screenshot("site-thresholds.png")
		// The devices table flags it as well.
		b.route("#/devices")
		b.waitJS(20*time.Second, fmt.Sprintf(`document.querySelector('tr[data-device$=%s] .reading[data-metric=body_temperature][data-level=critical]')`, js("/"+feverDevice)))
	})

	t.Run("every page sets its status and title when opened directly", func(t *testing.T) {
		b := admin(t)
		for _, p := range []struct{ hash, title string }{
			{"#/", "Overview — citywatch"}, {"#/site/" + site, site + " — Site — citywatch"}, {"#/camera/cam1", "cam1 — Camera — citywatch"},
			{"#/alerts/firing", "Firing — Alerts — citywatch"}, {"#/devices", "Devices — citywatch"}, {"#/rules", "Rules — citywatch"},
			{"#/deliveries", "Deliveries — citywatch"}, {"#/explore?q=temperature&range=900", "Explore — citywatch"}, {"#/audit", "Audit — citywatch"},
		} {
			b.open(p.hash)
			b.waitJS(20*time.Second, `document.querySelector("#live").dataset.state === "live" && document.querySelector("#live-text").textContent === "live"`)
			if got := eval[string](b, `document.title`); got != p.title {
				t.Errorf("%s: title %q, want %q", p.hash, got, p.title)
			}
		}
	})

	t.Run("one fetch per list per load, code compressed and cached", func(t *testing.T) {
		b := admin(t)
		b.open("#/site/" + site)
		// Two pings after the stream opened, every load the opening started has been answered.
		b.waitJS(20*time.Second, `document.querySelector(".sensor-tile") && document.querySelector(".camera-tile") && window.__citywatchLive.state === "open" && window.__citywatchLive.byKind.ping >= 2`)
		counts := eval[map[string]float64](b, `(() => {
			const c = {"/api/devices": 0, "/api/cameras": 0, "/api/alerts": 0};
			for (const e of performance.getEntriesByType("resource")) {
				const p = new URL(e.name).pathname;
				if (p in c) c[p]++;
			}
			return c;
		})()`)
		t.Logf("REST loads on one direct load of the site page: %v", counts)
		for path, n := range counts {
			if n != 1 {
				t.Errorf("%s fetched %v times on one load of the site page, want 1", path, n)
			}
		}
		// The largest file of the page's code (the site page no longer loads the chart library) is compressed.
		sizes := eval[map[string]any](b, `(() => {
			const e = performance.getEntriesByType("resource").filter((e) => /\/ui\/.*\.(js|css)$/.test(e.name)).sort((a, b) => b.decodedBodySize - a.decodedBodySize)[0];
			return e ? {name: e.name, encoded: e.encodedBodySize, decoded: e.decodedBodySize} : {};
		})()`)
		code := eval[map[string]float64](b, `performance.getEntriesByType("resource").filter((e) => /\/ui\/.*\.(js|css|json)$/.test(e.name))
			.reduce((s, e) => ({files: s.files + 1, encoded: s.encoded + e.encodedBodySize, decoded: s.decoded + e.decodedBodySize}), {files: 0, encoded: 0, decoded: 0})`)
		t.Logf("the site page's code: %v files, %.1f KiB sent (gzip) for %.1f KiB", code["files"], code["encoded"]/1024, code["decoded"]/1024)
		enc, _ := sizes["encoded"].(float64)
		dec, _ := sizes["decoded"].(float64)
		if dec == 0 || enc > dec/2 {
			t.Errorf("%v: %v bytes sent for %v: not compressed", sizes["name"], enc, dec)
		}
		if strings.Contains(fmt.Sprint(eval[[]string](b, `performance.getEntriesByType("resource").map((e) => e.name)`)), "uPlot.esm.js") {
			t.Errorf("the site page loaded the chart library (its sparklines are drawn without it)")
		}
		// The code is served for keeps under its content hash; a second load takes it from the browser's cache.
		cc, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch(document.querySelector("script[type=module]").src).then((r) => r.headers.get("cache-control") || "")`, chromedp.EvalAwaitPromise))
		if err != nil || !strings.Contains(cc, "immutable") {
			t.Errorf("the page's code is served with Cache-Control %q (%v), want long-lived and immutable", cc, err)
		}
		b.open("#/site/" + site)
		b.waitJS(20*time.Second, `document.querySelector(".sensor-tile")`)
		sent := eval[float64](b, `performance.getEntriesByType("resource").filter((e) => /\/ui\/v-[0-9a-f]+\/.*\.(js|css)$/.test(e.name)).reduce((s, e) => s + e.transferSize, 0)`)
		if sent != 0 {
			t.Errorf("a reload transferred %v bytes of code: the hashed assets are not cached", sent)
		}
	})

	t.Run("no layout shift when the site page loads", func(t *testing.T) {
		b := admin(t)
		b.loads++
		b.do(30*time.Second, chromedp.Navigate(fmt.Sprintf("%s/?load=%d#/site/%s", b.base, b.loads, site)))
		eval[any](b, `(window.__cls = 0, new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; }).observe({type: "layout-shift", buffered: true}), null)`)
		b.waitJS(20*time.Second, `document.querySelectorAll(".sensor-tile .spark-box canvas").length > 3 && document.querySelector(".camera-tile")`)
		b.waitJS(20*time.Second, `[...document.querySelectorAll(".camera-tile")].some((e) => e.dataset.player === "playing")`)
		cls := eval[float64](b, `window.__cls`)
		t.Logf("cumulative layout shift of the site page (desktop): %.3f", cls)
		if cls > 0.05 {
			t.Errorf("CLS %.3f, want ≤ 0.05", cls)
		}
	})

	t.Run("camera badge agrees with the video", func(t *testing.T) {
		b := admin(t)
		b.open("#/site/" + site)
		b.waitJS(30*time.Second, `[...document.querySelectorAll(".camera-tile")].some((e) => e.dataset.player === "playing")`)
		bad := eval[[]string](b, `[...document.querySelectorAll('.camera-tile[data-player="playing"]')].filter((e) => !["online", "degraded"].includes(e.dataset.state) || /offline|0\.0 fps/.test(e.querySelector("h3").textContent + e.querySelector(".cam-info").textContent)).map((e) => e.dataset.camera + ": " + e.textContent)`)
		if len(bad) > 0 {
			t.Errorf("tiles playing video but saying otherwise: %v", bad)
		}
	})

	t.Run("axe at desktop and phone size", func(t *testing.T) {
		b := admin(t)
		// One document: each page is a route change, checked at both sizes once it has loaded its data.
		b.open("#/")
		b.waitJS(20*time.Second, `document.querySelector(".site-card")`)
		for _, p := range pages {
			if axedElsewhere[p.hash] {
				continue
			}
			b.routeTo(p.hash, p.ready)
			b.axeSizes(p.hash, desktop, phone)
		}
		// The sign-in page too (it is public; the session does not matter to it).
		b.do(30*time.Second, chromedp.Navigate(b.base+"/login?next=%2F"))
		b.waitJS(20*time.Second, `document.documentElement.lang && document.querySelector("#login button").textContent`)
		b.axeSizes("/login", desktop, phone)
	})

	t.Run("Vietnamese: a nurse acknowledges a fever alert on the phone", func(t *testing.T) {
		t.Parallel()
		<-feverTileDone
		nurse := newBrowser(t, d.base)
		nurse.login("admin", d.password)
		nurse.resize(phone)
		nurse.setLang("vi")
		if nav := eval[string](nurse, `document.querySelector("#nav a").textContent`); nav != "Tổng quan" {
			t.Errorf("first navigation entry %q in Vietnamese, want Tổng quan", nav)
		}
		nurse.open("#/alerts/firing")
		nurse.waitJS(20*time.Second, `document.querySelector("table.alerts tr[data-alert-id]")`)
		nurse.screenshot("phone-alerts-vi.png")
		phoneAck(t, nurse, d, func(a apiAlert) bool { return a.Rule == "Fever" && a.Labels["site"] == site }, "Xác nhận", "điều dưỡng đang đến")
		// The fever's summary is the rule's summary_vi; the tables of rules and audit speak Vietnamese too.
		nurse.open("#/alerts/history")
		nurse.waitJS(60*time.Second, `[...document.querySelectorAll("table.alerts tr[data-alert-id]")].some((r) => r.textContent.includes("Fever") && r.textContent.includes("Sốt"))`)
		for hash, header := range map[string]string{"#/rules": "Biểu thức", "#/audit": "Thời gian", "#/deliveries": "Trạng thái"} {
			nurse.open(hash)
			nurse.waitJS(20*time.Second, fmt.Sprintf(`[...document.querySelectorAll("main th, main label")].some((h) => h.textContent.includes(%q))`, header))
		}
		// Dates read dd/MM/yyyy, 24-hour, and the zone is named.
		nurse.open("#/alerts/history")
		nurse.waitJS(20*time.Second, `document.querySelector("table.alerts time") || document.querySelector("table.alerts tr")`)
		nurse.open("#/explore?q=body_temperature&range=900")
		nurse.waitJS(20*time.Second, `document.querySelector(".chart-box .zone")`)
		if z := eval[string](nurse, `document.querySelector(".chart-box .zone").textContent`); !strings.HasPrefix(z, "Giờ theo ") || !strings.Contains(z, "UTC") {
			t.Errorf("chart zone caption %q", z)
		}
		// Switch back to English the way a user does, from the settings menu.
		nurse.do(10*time.Second, chromedp.Click(chromedp.CSS(".settings summary")))
		nurse.do(10*time.Second, chromedp.WaitVisible(chromedp.CSS("#opt-lang")))
		eval[any](nurse, `(() => { const s = document.querySelector("#opt-lang"); s.value = "en"; setTimeout(() => s.dispatchEvent(new Event("change"))); })(), null`)
		nurse.waitJS(20*time.Second, `document.documentElement.lang === "en" && document.querySelector("#nav a")?.textContent === "Overview"`)
	})

	t.Run("phone user acknowledges with one tap, no sideways scroll", func(t *testing.T) {
		b := admin(t)
		b.resize(phone)
		// Not drivenCamera's: TestAlertNoiseAndEvidence acknowledges that one itself, on the same demo.
		id := phoneAck(t, b, d, func(a apiAlert) bool { return a.Rule != "Fever" && a.Labels["camera"] != drivenCamera }, "Acknowledge", "on my way")
		t.Logf("acknowledged alert %d from the phone", id)
	})
}

// phoneAck acknowledges, at phone size, the first unacknowledged firing alert that want accepts, with a
// comment typed beside the button and one tap, checks the page never scrolls sideways and the button is a 44 px
// target, and returns the alert's id. button is the button's text ("" to skip checking it).
func phoneAck(t *testing.T, b *browser, d *demo, want func(apiAlert) bool, button, comment string) int64 {
	t.Helper()
	var target apiAlert
	var row string
	// The alert is picked from the API and then looked for on the page. A camera alert can resolve in between
	// (the demo's cameras fail and recover on a schedule) and leave the firing list: then another is picked.
	// One that is still firing and unacknowledged must be on the page.
	for attempt := 1; ; attempt++ {
		target = firingAlert(t, d, want)
		row = fmt.Sprintf(`tr[data-alert-id="%d"]`, target.ID)
		b.open("#/alerts/firing")
		ok, last := b.truthyWithin(30*time.Second, fmt.Sprintf(`document.querySelector('%s button[data-action=ack]')`, row))
		if ok {
			break
		}
		var now apiAlert
		if _, err := d.getJSON(fmt.Sprintf("/api/alerts/%d", target.ID), &now); err != nil {
			t.Fatal(err)
		}
		if now.State == "firing" && now.AckedBy == "" {
			t.Fatalf("alert %d is firing and unacknowledged, yet the firing list shows no Acknowledge for it (last error %v, at %s)", target.ID, last, b.location())
		}
		if attempt == 5 {
			t.Fatalf("five alerts in a row left the firing list before the page showed them; the last, %d, is %s", target.ID, now.State)
		}
		t.Logf("alert %d is %s (acknowledged by %q) before the page showed it: another", target.ID, now.State, now.AckedBy)
	}
	expandGroupOf(b, row)
	if w := eval[float64](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 1 {
		t.Errorf("the alerts page scrolls sideways by %v px on a phone", w)
	}
	if h := eval[float64](b, fmt.Sprintf(`document.querySelector('%s button[data-action=ack]').getBoundingClientRect().height`, row)); h < 44 {
		t.Errorf("Acknowledge is %v px tall on a phone, want ≥ 44", h)
	}
	if h := eval[float64](b, `document.querySelector("header.top").getBoundingClientRect().height`); h > 100 {
		t.Errorf("the header is %v px tall on a phone, want ≤ 100", h)
	}
	if right := eval[float64](b, fmt.Sprintf(`document.querySelector('%s button[data-action=ack]').getBoundingClientRect().right`, row)); right > 390 {
		t.Errorf("Acknowledge ends at x=%v, off a 390 px screen", right)
	}
	if button != "" {
		if got := eval[string](b, fmt.Sprintf(`document.querySelector('%s button[data-action=ack]').textContent`, row)); got != button {
			t.Errorf("Acknowledge button says %q, want %q", got, button)
		}
	}
	acked := func() string {
		var got apiAlert
		if _, err := d.getJSON(fmt.Sprintf("/api/alerts/%d", target.ID), &got); err != nil {
			return err.Error()
		}
		if got.AckedBy != "admin" || got.Comment != comment {
			return fmt.Sprintf("alert %d: acked_by %q comment %q", target.ID, got.AckedBy, got.Comment)
		}
		return ""
	}
	typeAndTap(b, row, comment, acked)
	if n := eval[float64](b, `document.querySelectorAll("dialog[open]").length`); n != 0 {
		t.Errorf("a dialog opened: the phone ack took more than one tap")
	}
	return target.ID
}

// screenshot writes the page to docs/img/<name> with -update-screenshots (for the README), else nothing.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if !*updateScreenshots {
		return
	}
	png, err := chromedpRun(b, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repoRoot(b.t), "docs", "img", name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// typeAndTap types comment into row's inline comment box and taps its Acknowledge, as a phone user does, until
// done says the acknowledgement is stored ("" once it is). The list redraws whenever any alert changes: the
// page keeps what was typed and the focus (refill), but the row's nodes are new ones, so chromedp's actions on
// the old ones fail ("Could not find node with given id"), and a tap aimed at where the button was a moment
// ago can land beside it. Either way the attempt is made again, from an empty box; a tap that landed is never
// repeated once done says so.
func typeAndTap(b *browser, row, comment string, done func() string) {
	b.t.Helper()
	input := row + ` input.ack-inline`
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf(`document.querySelector(%s).value = "", null`, js(input))))
		if err == nil {
			err = chromedp.Do(ctx,
				chromedp.ScrollIntoView(chromedp.CSS(input)),
				chromedp.SendKeys(chromedp.CSS(input), comment),
				chromedp.Click(chromedp.CSS(row+` button[data-action=ack]`)),
			)
		}
		cancel()
		stored := done()
		for wait := time.Now().Add(5 * time.Second); stored != "" && err == nil && time.Now().Before(wait); stored = done() {
			time.Sleep(200 * time.Millisecond)
		}
		if stored == "" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("type %q and tap Acknowledge in %s: %s, %v (at %s)", comment, row, stored, err, b.location())
		}
		b.t.Logf("type and tap again, the list redrew under it: %s, %v", stored, err)
	}
}

// firingAlert waits for a firing, unacknowledged alert that want accepts and returns it.
func firingAlert(t *testing.T, d *demo, want func(apiAlert) bool) apiAlert {
	t.Helper()
	var target apiAlert
	eventually(t, 180*time.Second, func() string {
		var list struct{ Alerts []apiAlert }
		if _, err := d.getJSON("/api/alerts?state=firing", &list); err != nil {
			return err.Error()
		}
		for _, a := range list.Alerts {
			if a.State == "firing" && a.AckedBy == "" && want(a) {
				target = a
				return ""
			}
		}
		return fmt.Sprintf("no unacknowledged firing alert of the kind wanted yet: %+v", list.Alerts)
	})
	return target
}

// expandGroupOf opens the alert group holding row as a user does (a tap on its summary) when it is collapsed:
// groups of more than a few alerts show only their count.
func expandGroupOf(b *browser, row string) {
	eval[any](b, fmt.Sprintf(`(() => { const d = document.querySelector('%s')?.closest('details'); if (d && !d.open) d.querySelector('summary').click(); })(), null`, row))
	b.waitJS(10*time.Second, fmt.Sprintf(`(() => { const d = document.querySelector('%s')?.closest('details'); return !d || d.open; })()`, row))
}
