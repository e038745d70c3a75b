package browser_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// roomStateCases are the rules of a ward room's marker on the site plan (wardplan.js as W), in English.
var roomStateCases = []ruleCase{
	{"vacant", `W.roomState({name: "101", state: "vacant"}, {site: "q"})`, map[string]any{"state": "vacant", "reason": "vacant"}},
	{"occupied, by case id", `W.roomState({name: "101", state: "occupied", case_id: "Q-1"}, {site: "q"})`,
		map[string]any{"state": "ok", "reason": "occupied — case Q-1"}},
	{"missed round", `W.roomState({name: "101", state: "missing", case_id: "Q-1", round: "2026-12-07 08:00"}, {site: "q"})`,
		map[string]any{"state": "warning", "reason": "missed the 2026-12-07 08:00 round — case Q-1"}},
	{"febrile round reading", `W.roomState({name: "101", state: "fever", case_id: "Q-1", round: "2026-12-07 08:00"}, {site: "q"}).state`, "critical"},
	{"a critical alert naming the room", `W.roomState({name: "101", state: "occupied", case_id: "Q-1"}, {site: "q", alerts: [{rule: "Fever", state: "firing", labels: {site: "q", room: "101", severity: "critical"}}]})`,
		map[string]any{"state": "critical", "reason": "1 fever — case Q-1"}},
	{"a warning alert over a missed round keeps both reasons", `W.roomState({name: "101", state: "missing", case_id: "Q-1", round: "08:00"}, {site: "q", alerts: [{rule: "PossibleLeave", state: "firing", labels: {site: "q", room: "101", severity: "warning"}}]}).state`, "warning"},
	{"another room's or site's alert, or a resolved one, is not this room's", `W.roomState({name: "101", state: "occupied"}, {site: "q", alerts: [
		{rule: "Fever", state: "firing", labels: {site: "q", room: "102", severity: "critical"}},
		{rule: "Fever", state: "firing", labels: {site: "other", room: "101", severity: "critical"}},
		{rule: "Fever", state: "resolved", labels: {site: "q", room: "101", severity: "critical"}}]}).state`, "ok"},
}

// TestRoomStateRules runs the plan's room marker rules in chromium.
func TestRoomStateRules(t *testing.T) {
	b := newRulesPage(t, "room state rules")
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`Promise.all(["i18n", "wardplan"].map((m) => import("/ui/js/" + m + ".js")))
		.then(async ([I, W]) => { await I.loadI18n(); Object.assign(window, {W}); return true; })`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load the UI modules: %v", err)
	}
	checkRules(t, b, roomStateCases)
}
