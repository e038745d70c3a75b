package browser_test

import (
	"encoding/json"
	"testing"

	"github.com/chromedp/chromedp"
)

// freshnessCases are the rules of js/freshness.js: how a device's expected message interval is learned and
// when it counts as silent. Each expression runs in the page with the module as F; T is a fixed server time
// in ms and iso(ms) renders one as RFC 3339.
var freshnessCases = []struct {
	name string
	expr string
	want any
}{
	{"interval from totals", `(() => { const r = new F.Rates(); r.observe({id: "a", first_seen: iso(T), last_seen: iso(T + 59000), messages: 60}); return r.expected("a"); })()`, 1.0},
	{"no interval from one message", `(() => { const r = new F.Rates(); r.observe({id: "a", first_seen: iso(T), last_seen: iso(T), messages: 1}); return r.expected("a") ?? "unknown"; })()`, "unknown"},
	{"interval from updates, coalesced messages divided out", `(() => { const r = new F.Rates(); r.observe({id: "a", last_seen: iso(T), messages: 10}); r.observe({id: "a", last_seen: iso(T + 5000), messages: 20}); return r.expected("a"); })()`, 0.5},
	{"an older answer teaches nothing", `(() => { const r = new F.Rates(); r.observe({id: "a", last_seen: iso(T), messages: 10}); r.observe({id: "a", last_seen: iso(T + 2000), messages: 12}); r.observe({id: "a", last_seen: iso(T + 1000), messages: 11}); return r.expected("a"); })()`, 1.0},
	{"a recounting device is relearned", `(() => { const r = new F.Rates(); r.observe({id: "a", last_seen: iso(T), messages: 10}); r.observe({id: "a", last_seen: iso(T + 2000), messages: 12}); r.observe({id: "a", first_seen: iso(T + 10000), last_seen: iso(T + 40000), messages: 4}); return r.expected("a"); })()`, 10.0},
	{"1 s device quiet 4 s is live", `F.classify(iso(T), 1, T + 4000).state`, "live"},
	{"1 s device quiet 6 s is silent", `F.classify(iso(T), 1, T + 6000).state`, "silent"},
	{"60 s device quiet 100 s is live", `F.classify(iso(T), 60, T + 100000).state`, "live"},
	{"60 s device quiet 200 s is silent", `F.classify(iso(T), 60, T + 200000).state`, "silent"},
	{"unknown rate: silent after the fallback", `[F.classify(iso(T), undefined, T + 29000).state, F.classify(iso(T), undefined, T + 31000).state]`, []any{"live", "silent"}},
	{"never seen", `F.classify("0001-01-01T00:00:00Z", 1, T).state`, "never"},
	{"silent text names the rhythm", `F.freshnessText({state: "silent", expected: 1, after: 5, age: 12.4, last: T}).replace(/\d\d:\d\d:\d\d/, "HH:MM:SS")`, "silent — no message since HH:MM:SS (expected every 1 s) · last seen 12 s ago"},
	{"live text ticks from the age", `F.freshnessText({state: "live", age: 3.7})`, "last seen 3 s ago"},
	{"stale page: no verdict on the device, the page's time", `(() => { const f = F.deviceFreshness({id: "x", last_seen: iso(Date.now() - 60000), messages: 1}, {live: false, dataAt: Date.now() - 50000}); return [f.state, f.silent, F.freshnessText(f).replace(/\d\d:\d\d:\d\d/, "HH:MM:SS")]; })()`,
		[]any{"stale", false, "no data since HH:MM:SS — the page is not receiving updates"}},
}

// TestDeviceSilenceRules runs the page's device freshness rules (js/freshness.js) in chromium against the
// table above: a device is silent after its own learned rhythm, not after one fixed time for all.
func TestDeviceSilenceRules(t *testing.T) {
	b := newRulesPage(t, "freshness")
	ctx := b.ctx
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`import("/ui/js/freshness.js").then((F) => {
		window.F = F;
		window.T = Date.parse("2026-12-07T06:50:00Z");
		window.iso = (ms) => new Date(ms).toISOString();
		return true;
	})`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load js/freshness.js: %v", err)
	}
	for _, c := range freshnessCases {
		t.Run(c.name, func(t *testing.T) {
			got := eval[any](b, "((F, T, iso) => "+c.expr+")(window.F, window.T, window.iso)")
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(c.want)
			if string(gj) != string(wj) {
				t.Errorf("%s\n got %s\nwant %s", c.expr, gj, wj)
			}
		})
	}
}
