package browser_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// uiRuleCases are the pure rules of the UI modules, as JavaScript expressions over U (units.js), H
// (thresholds.js), I (i18n.js), C (chart.js), N (notify.js) and D (dom.js), with the value each must give.
var uiRuleCases = []ruleCase{
	{"unit of a sensor metric", `U.unitOf("body_temperature")`, "°C"},
	{"unit from a suffix", `U.unitOf("camera_bitrate_bps")`, "bit/s"},
	{"unit of a counter drops _total", `U.unitOf("citywatch_http_request_duration_seconds_total")`, "s"},
	{"no unit known", `U.unitOf("seq")`, ""},
	{"bitrate with an SI prefix", `U.fmtUnit(250000, "bit/s")`, "250 kbit/s"},
	{"megabits", `U.fmtUnit(2500000, "bit/s")`, "2.5 Mbit/s"},
	{"ratio as percent", `U.fmtUnit(0.084, "ratio")`, "8.4 %"},
	{"plain unit", `U.fmtUnit(38.97, "°C")`, "39 °C"},
	{"expression keeps its metric's unit", `U.unitOfExpr('avg(co2{site="a"}) by (site)')`, "ppm"},
	{"a rate has no unit of its metric", `U.unitOfExpr("rate(camera_bitrate_bps[5m])")`, ""},
	{"arithmetic has no unit", `U.unitOfExpr("temperature * 2")`, ""},
	{"threshold crossed", `H.judge([{alert: "Fever", severity: "critical", metric: "body_temperature", op: ">", value: 38}], "body_temperature", {}, 38.97).level`, "critical"},
	{"threshold not crossed", `H.judge([{alert: "Fever", severity: "critical", metric: "body_temperature", op: ">", value: 38}], "body_temperature", {}, 36.6).level`, ""},
	{"at the limit is not past a strict limit", `H.judge([{alert: "X", severity: "warning", metric: "m", op: ">", value: 1}], "m", {}, 1).level`, ""},
	{"warning severity", `H.judge([{alert: "CO2", severity: "warning", metric: "co2", op: ">", value: 1200}], "co2", {}, 1500).level`, "warning"},
	{"the most severe crossed wins", `H.judge([{alert: "W", severity: "warning", metric: "m", op: ">", value: 1}, {alert: "C", severity: "critical", metric: "m", op: ">", value: 2}], "m", {}, 3).th.alert`, "C"},
	{"regex matcher is anchored", `H.matches({matchers: [{name: "device", op: "=~", value: "room-.*"}]}, {device: "xroom-1"})`, false},
	{"regex matcher matches", `H.matches({matchers: [{name: "device", op: "=~", value: "room-.*"}]}, {device: "room-1"})`, true},
	{"negative matcher on a missing label", `H.matches({matchers: [{name: "zone", op: "!=", value: "a"}]}, {})`, true},
	{"bad regex matches nothing", `H.matches({matchers: [{name: "d", op: "=~", value: "("}]}, {d: "("})`, false},
	{"firing alerts about a device", `H.firingFor([{id: 1, state: "firing", labels: {device: "w1", site: "s"}}, {id: 2, state: "resolved", labels: {device: "w1", site: "s"}}, {id: 3, state: "firing", labels: {device: "w1", site: "t"}}], {device: "w1", site: "s"}).map((a) => a.id)`, []any{1.0}},
	{"stored language first", `I.pickLang("vi", ["en-US"])`, "vi"},
	{"browser language", `I.pickLang("", ["fr-FR", "vi-VN", "en"])`, "vi"},
	{"English otherwise", `I.pickLang("xx", ["fr"])`, "en"},
	{"English dates ISO-like", `I.fmtDate(new Date(2026, 11, 7, 9, 5).getTime())`, "2026-12-07"},
	{"an annotation in the UI language when the rule gives one", `I.localized({summary: "Fever at a", summary_en: "Fever at a (en)", summary_vi: "Sốt tại a"}, "summary")`, "Fever at a (en)"},
	{"else the annotation itself", `I.localized({summary: "Fever at a", summary_vi: "Sốt tại a"}, "summary")`, "Fever at a"},
	{"no annotations", `I.localized(undefined, "summary")`, ""},
	{"24-hour time", `I.fmtTime(new Date(2026, 11, 7, 21, 5, 9).getTime())`, "21:05:09"},
	{"series named after device and site", `C.humanName({__name__: "body_temperature", device: "wearable-001", site: "q-hotel-1", district: "d1"}, {__name__: "body_temperature", district: "d1"})`, "wearable-001 · q-hotel-1"},
	{"camera series with its zone", `C.humanName({camera: "cam1", site: "s", zone: "door"}, {site: "s"})`, "cam1 · s · zone=door"},
	{"notify: new, unacknowledged critical alerts only", `N.newCritical([{id: 1, state: "firing", labels: {severity: "critical"}}, {id: 2, state: "firing", labels: {severity: "warning"}}, {id: 3, state: "firing", labels: {severity: "critical"}, acked_by: "x"}, {id: 4, state: "firing", labels: {severity: "critical"}}, {id: 5, state: "resolved", labels: {severity: "critical"}}], new Set([4])).map((a) => a.id)`, []any{1.0}},
	{"a redraw keeps what the user typed", `(() => { const n = document.createElement("div"); document.body.append(n); D.refill(n, D.el("input", {id: "c1"}), "since 1 min"); n.querySelector("#c1").value = "on my way"; D.refill(n, D.el("input", {id: "c1"}), "since 2 min"); return [n.textContent, n.querySelector("#c1").value]; })()`, []any{"since 2 min", "on my way"}},
	{"other series keep their labels", `C.humanName({job: "x", instance: "y"}, {})`, `{job="x", instance="y"}`},
}

// TestUIRules runs the UI's pure rules (units, thresholds, language and date formats, series names) in
// chromium against the table above.
func TestUIRules(t *testing.T) {
	b := newRulesPage(t, "ui rules")
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`Promise.all(["units", "thresholds", "i18n", "chart", "notify", "dom"].map((m) => import("/ui/js/" + m + ".js")))
		.then(([U, H, I, C, N, D]) => { Object.assign(window, {U, H, I, C, N, D}); return true; })`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load the UI modules: %v", err)
	}
	checkRules(t, b, uiRuleCases)
}
