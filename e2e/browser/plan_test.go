package browser_test

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// planRuleCases are the pure rules of the Overview's cards and the site plan (sitestatus.js as S, citymap.js
// as M), in English.
var planRuleCases = []ruleCase{
	{"reasons in words, critical first", `S.siteReasons({byRule: {RoomCO2High: {n: 1, severity: "warning"}, Fever: {n: 1, severity: "critical"}}, camerasDown: 1, silent: 0}).map((r) => r.text).join(", ")`,
		"1 fever, 1 room with high CO₂, 1 camera down"},
	{"plurals", `S.siteReasons({byRule: {Fever: {n: 2, severity: "critical"}}, camerasDown: 2, silent: 3}).map((r) => r.text).join(", ")`,
		"2 fevers, 2 cameras down, 3 devices silent"},
	{"a camera alert is said by the camera's state", `S.siteReasons({byRule: {CameraOffline: {n: 1, severity: "warning"}}, camerasDown: 1}).map((r) => r.text).join(", ")`, "1 camera down"},
	{"a critical camera alert puts the camera first", `S.siteReasons({byRule: {WardRoundMissed: {n: 1, severity: "warning"}, CameraOffline: {n: 1, severity: "critical"}}, camerasDown: 1, silent: 1}).map((r) => r.severity + " " + r.text)`,
		[]any{"critical 1 camera down", "warning 1 missed round", "warning 1 device silent"}},
	{"a camera alert still firing after the camera came back", `S.siteReasons({byRule: {CameraOffline: {n: 1, severity: "warning"}}, camerasDown: 0}).map((r) => r.text).join()`, "1 camera down"},
	{"unknown rule by name", `S.siteReasons({byRule: {DiskFull: {n: 1, severity: "warning"}}}).map((r) => r.text).join()`, "1 × DiskFull"},
	{"severity then name", `S.orderSites([{name: "b", status: "ok"}, {name: "a", status: "warning"}, {name: "c", status: "critical"}, {name: "aa", status: "warning"}], new Map(), 0).map((s) => s.name)`,
		[]any{"c", "a", "aa", "b"}},
	{"a flapping camera does not move its card", `(() => { const m = new Map(); const o = (st, now) => S.orderSites([{name: "a", status: "ok"}, {name: "b", status: st}], m, now).map((s) => s.name).join();
		return [o("warning", 0), o("ok", 1000), o("warning", 2000), o("ok", 3000), o("ok", 62000), o("ok", 63001)]; })()`,
		[]any{"b,a", "b,a", "b,a", "b,a", "b,a", "a,b"}},
	{"a worse site moves up at once", `(() => { const m = new Map(); S.orderSites([{name: "a", status: "ok"}, {name: "b", status: "ok"}], m, 0); return S.orderSites([{name: "a", status: "ok"}, {name: "b", status: "critical"}], m, 1).map((s) => s.name); })()`,
		[]any{"b", "a"}},
	{"marker of a device with a critical alert", `S.markerState({kind: "device", id: "c/q/w1"}, {devices: [{id: "c/q/w1", labels: {device: "w1", site: "q"}}], alerts: [{rule: "Fever", state: "firing", labels: {device: "w1", site: "q", severity: "critical"}}]})`,
		map[string]any{"state": "critical", "reason": "1 fever"}},
	{"marker of a camera down", `S.markerState({kind: "camera", id: "door1"}, {cameras: [{id: "door1", state: "unauthorized"}]}).state`, "down"},
	{"marker of a silent device", `S.markerState({kind: "device", id: "x"}, {devices: [{id: "x", labels: {}}], silent: () => true}).state`, "down"},
	{"marker of an unknown item", `S.markerState({kind: "camera", id: "gone"}, {}).state`, "unknown"},
	{"Web Mercator: null island in the middle", `M.project(0, 0, 1)`, map[string]any{"x": 256.0, "y": 256.0}},
	{"Web Mercator: Ho Chi Minh City's tile at z12", `[Math.floor(M.project(10.7769, 106.7009, 12).x / 256), Math.floor(M.project(10.7769, 106.7009, 12).y / 256)]`, []any{3262.0, 1924.0}}, // the OSM wiki formula: x = (lon+180)/360·2^z, y = (1 − ln(tan φ + sec φ)/π)/2·2^z,
	{"tile x wraps around the world", `M.tileURL("https://t/{z}/{x}/{y}.png", 2, -1, 1)`, "https://t/2/3/1.png"},
	{"fit: two nearby sites get a street zoom", `M.fitView([{lat: 10.7769, lon: 106.7009}, {lat: 10.8011, lon: 106.7147}], 600, 360).z`, 13.0},
}

// TestPlanRules runs the Overview's and the plan's pure rules in chromium.
func TestPlanRules(t *testing.T) {
	b := newRulesPage(t, "plan rules")
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`Promise.all(["i18n", "sitestatus", "citymap"].map((m) => import("/ui/js/" + m + ".js")))
		.then(async ([I, S, M]) => { await I.loadI18n(); Object.assign(window, {S, M}); return true; })`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load the UI modules: %v", err)
	}
	checkRules(t, b, planRuleCases)
}

// planPNG writes an 800×500 floor plan (walls on white) and returns its path.
func planPNG(t *testing.T) string {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 800, 500))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for x := 0; x < 800; x++ {
		for _, y := range []int{0, 250, 499} {
			img.SetGray(x, y, color.Gray{})
		}
	}
	p := filepath.Join(t.TempDir(), "plan.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSitePlanAndMap drives the Overview's "where and why" as an admin: the city map shows every site with
// no tile server reachable (tests have no network), cards say what is wrong in words, and the site plan
// round-trip works — upload, place by dragging, reload, the marker shows the live state — with axe clean.
func TestSitePlanAndMap(t *testing.T) {
	d, b := newSharedAdmin(t)
	b.resize(desktop)

	t.Run("map shows the sites without tiles", func(t *testing.T) {
		b.t = t
		b.open("#/")
		b.waitJS(30*time.Second, `document.querySelectorAll(".map-pin").length === 4`)
		pin := `document.querySelector('.map-pin[data-site="q-hotel-1"]')`
		if name := eval[string](b, pin+`.textContent`); !strings.Contains(name, "Khách sạn cách ly 1") {
			t.Errorf("q-hotel-1's pin reads %q, want its configured name", name)
		}
		// Every pin is inside the map's box, whatever the tiles do.
		if out := eval[int](b, `[...document.querySelectorAll(".map-pin")].filter((p) => { const r = p.getBoundingClientRect(), m = document.querySelector(".map-view").getBoundingClientRect(); return r.left < m.left || r.right > m.right || r.top < m.top || r.bottom > m.bottom; }).length`); out != 0 {
			t.Errorf("%d pins outside the map", out)
		}
		// Each pin at its own coordinates (not all stacked where an inline style was refused).
		if n := eval[int](b, `new Set([...document.querySelectorAll(".map-pin")].map((p) => p.style.left + "," + p.style.top)).size`); n != 4 {
			t.Errorf("pins at %d distinct places, want 4", n)
		}
	})

	t.Run("cards say what is wrong", func(t *testing.T) {
		b.t = t
		// The door camera has a wrong password: q-hotel-2 says so in words.
		b.waitJS(60*time.Second, `document.querySelector('.site-card[data-site="q-hotel-2"] .reasons')?.textContent.includes("1 camera down")`)
		b.waitJS(150*time.Second, `document.querySelector('.site-card[data-site="q-hotel-1"] .reasons')?.textContent.includes("fever")`)
		if v := b.axe(); len(v) > 0 {
			t.Errorf("axe on the overview: %v", v)
		}
		b.screenshot("overview-map.png")
	})

	var device string
	t.Run("site plan round trip", func(t *testing.T) {
		b.t = t
		var devs struct {
			Devices []struct {
				ID     string            `json:"id"`
				Labels map[string]string `json:"labels"`
			} `json:"devices"`
		}
		if _, err := d.getJSON("/api/devices", &devs); err != nil {
			t.Fatal(err)
		}
		for _, dv := range devs.Devices {
			if dv.Labels["device"] == feverDevice && dv.Labels["site"] == site {
				device = dv.ID
			}
		}
		if device == "" {
			t.Fatalf("no device %s at %s", feverDevice, site)
		}
		b.open("#/plan/" + site)
		b.waitJS(20*time.Second, `document.querySelector("#plan-file")`)
		b.do(20*time.Second, chromedp.SetUploadFiles(chromedp.CSS("#plan-file"), []string{planPNG(t)}),
			chromedp.Click(chromedp.CSS(".plan-upload button[type=submit]")))
		b.waitJS(20*time.Second, `document.querySelector(".plan-image")?.complete && document.querySelector(".plan-image").naturalWidth === 800`)
		b.waitJS(20*time.Second, fmt.Sprintf(`document.querySelector('[data-place=%s]')`, js("device/"+device)))
		b.do(10*time.Second, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-place=%s]`, js("device/"+device)))))
		marker := fmt.Sprintf(`document.querySelector('.plan-marker[data-id=%s]')`, js(device))
		b.waitJS(10*time.Second, marker)
		// Drag the marker to a quarter across and three quarters down the plan.
		r := eval[[]float64](b, `(() => { const m = `+marker+`.getBoundingClientRect(), i = document.querySelector(".plan-image").getBoundingClientRect();
			return [m.left + m.width / 2, m.top + m.height / 2, i.left + i.width * 0.25, i.top + i.height * 0.75]; })()`)
		b.do(20*time.Second, chromedp.DragAndDropXY(r[0], r[1], r[2], r[3], 8))
		eventually(t, 20*time.Second, func() string {
			var pl struct {
				Markers []struct {
					Kind, ID string
					X, Y     float64
				} `json:"markers"`
			}
			if _, err := d.getJSON("/api/plans/"+site, &pl); err != nil {
				return err.Error()
			}
			for _, m := range pl.Markers {
				if m.ID == device && math.Abs(m.X-0.25) < 0.02 && math.Abs(m.Y-0.75) < 0.02 {
					return ""
				}
			}
			return fmt.Sprintf("markers %+v: want %s at 0.25, 0.75", pl.Markers, device)
		})
		// Reload: the marker is where it was dropped and shows the live state in words.
		b.open("#/plan/" + site)
		b.waitJS(20*time.Second, marker+` && Math.abs(parseFloat(`+marker+`.style.left) - 25) < 2 && Math.abs(parseFloat(`+marker+`.style.top) - 75) < 2`)
		b.waitJS(150*time.Second, marker+`.dataset.state === "critical" && `+marker+`.textContent.includes("⚠") && `+marker+`.textContent.includes("fever")`)
		if v := b.axe(); len(v) > 0 {
			t.Errorf("axe on the site plan: %v", v)
		}
		b.screenshot("site-plan.png")
		b.resize(phone)
		b.open("#/plan/" + site)
		b.waitJS(20*time.Second, marker)
		if v := b.axe(); len(v) > 0 {
			t.Errorf("axe on the site plan at phone size: %v", v)
		}
		b.open("#/")
		b.waitJS(30*time.Second, `document.querySelectorAll(".map-pin").length === 4 && document.querySelector(".site-card .reasons")`)
		if v := b.axe(); len(v) > 0 {
			t.Errorf("axe on the overview at phone size: %v", v)
		}
		b.resize(desktop)
	})

	t.Run("plan changes are audited", func(t *testing.T) {
		for _, action := range []string{"site_plan_image", "site_plan_place"} {
			var out struct {
				Records []struct {
					Actor, Site, Target string
					Success             bool
				} `json:"records"`
			}
			if _, err := d.getJSON("/api/audit?action="+action, &out); err != nil {
				t.Fatal(err)
			}
			if len(out.Records) == 0 || out.Records[0].Actor != "admin" || out.Records[0].Site != site || !out.Records[0].Success {
				t.Errorf("audit %s: %+v", action, out.Records)
			}
		}
	})
}
