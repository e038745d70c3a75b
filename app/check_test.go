package app

import (
	"strings"
	"testing"

	"citywatch/config"
)

// checkCases are the golden bad configurations of `citywatch check` beyond the configuration file itself:
// testdata/check/<file> and the exact errors, in order, of loading it and then Check. serve loads the same
// files through the same functions (loadRules, notify.ConfigFromConfig, the outbox's validation), so it refuses each.
var checkCases = []struct {
	file string
	errs []string
}{
	{"zone_motion_no_schedule.bad.yaml", []string{
		`testdata/check/rules/zone_motion_no_schedule.rules.yaml:4: rule "NightMotion": schedule: required for zone_motion, e.g. "22:00-06:00"`,
	}},
	{"camera_refs.bad.yaml", []string{
		`testdata/check/rules/camera_refs.rules.yaml:5: rule "GateOffline": match.camera: unknown camera "gaet" (cameras: "gate", "lobby")`,
		`testdata/check/rules/camera_refs.rules.yaml:12: rule "GateHallMotion": match.zone: camera "gate" has no zone "hall" (zones: "door", "yard")`,
		`testdata/check/rules/camera_refs.rules.yaml:21: rule "RoofMotion": match.zone: no camera has zone "roof" (zones: "all", "door", "yard")`,
	}},
	{"rule_syntax.bad.yaml", []string{
		// Every problem of the file at once, in line order.
		`testdata/check/rules/rule_syntax.rules.yaml:4: rule "BadExpr": expr: 1:31: parse error: unclosed left parenthesis`,
		`testdata/check/rules/rule_syntax.rules.yaml:6: rule "BadTemplate": annotations.summary: template: template: check:1: unclosed action`,
		`testdata/check/rules/rule_syntax.rules.yaml:12: groups[0].rules[2]: unknown key "fro"`,
		`testdata/check/rules/rule_syntax.rules.yaml:13: rule "SilentWithoutWindow": window: required for device_silent (how long without data counts as silent)`,
	}},
	{"route_refs.bad.yaml", []string{
		// A route to an alert no rule defines never matches ("Fever" is in the rule file, "IngestStalled" is a
		// built-in self-monitoring rule).
		`notify.routes[0].match.alertname: no rule defines alert "Fevr", so the route never matches`,
	}},
	{"notify_template_exec.bad.yaml", []string{
		// It parses, but the outbox, which executes templates with sample alerts when it starts, refuses it.
		`testdata/check/notify_template_exec.bad.yaml:9: notify.receivers[0].template: invalid template (template line 2): executing with a sample firing alert: executing "template" at <.Device>: can't evaluate field Device in type tmplfuncs.Payload`,
	}},
}

// TestCheckGood: valid references (a zone of the matched camera, the whole-picture zone "all" of a camera
// without zones, a zone some camera has) and a receiver of format mqtt pass.
func TestCheckGood(t *testing.T) {
	cfg, err := config.Load("testdata/check/refs.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestCheckGolden(t *testing.T) {
	for _, tc := range checkCases {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := config.Load("testdata/check/" + tc.file)
			if err == nil {
				err = Check(cfg)
			}
			if err == nil {
				t.Fatalf("no error, want:\n%s", strings.Join(tc.errs, "\n"))
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tc.errs, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tc.errs, "\n"))
			}
		})
	}
}

// TestServeRefusesWhatCheckRefuses: New, which serve calls, refuses every golden case that gets past the
// configuration file with the same errors: check and serve share their validation.
func TestServeRefusesWhatCheckRefuses(t *testing.T) {
	for _, tc := range checkCases {
		cfg, err := config.Load("testdata/check/" + tc.file)
		if err != nil {
			continue // refused by config.Load, which serve calls first too
		}
		t.Run(tc.file, func(t *testing.T) {
			cfg.DataDir, cfg.HTTP.Listen, cfg.Broker.Listen = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
			a, err := New(cfg, Options{PasswordHashing: testHashing})
			if err == nil {
				a.closeStores()
				t.Fatal("New accepted what Check refuses")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("New's error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}
