package main_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckRuleFiles: `citywatch check` validates what `serve` validates beyond the configuration file: a
// rule file that serve refuses (a zone_motion rule without schedule) fails check with file:line and exit
// status 1, and serve refuses the same file with the same message. A receiver with format mqtt, which
// docs/webhooks.md lists, passes.
func TestCheckRuleFiles(t *testing.T) {
	e2e(t)
	// The NightMotion rule, with further keys.
	motion := func(more string) serveOption {
		return withRules(`groups:
  - name: night
    rules:
      - alert: NightMotion
        event: zone_motion
        match: {zone: door}
` + more)
	}
	cameras := withYAML(`cameras:
  - id: gate
    site: depot
    url: rtsp://127.0.0.1:1/gate
    zones: ["door: 0.1,0.1 0.5,0.1 0.5,0.5"]
`)
	cw := newServe(t, motion(""), cameras, withAlerts())
	bad := cw.config
	want := filepath.Join(cw.dir, "rules.yaml") + `:4: rule "NightMotion": schedule: required for zone_motion, e.g. "22:00-06:00"`

	out, err := exec.Command(binPath, "check", "--config", bad).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("check of a rule file serve refuses: want exit 1, got %v\n%s", err, out)
	}
	if !strings.Contains(string(out), want) {
		t.Fatalf("check output lacks %q:\n%s", want, out)
	}

	p := start(t, "serve", "--config", bad)
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not refuse the rule file:\n%s", p.Out.String())
	}
	if p.Err() == nil || !strings.Contains(p.Out.String(), want) {
		t.Fatalf("serve: want an exit with %q, got %v:\n%s", want, p.Err(), p.Out.String())
	}

	// A route to an alert no rule defines: reported against the configuration file.
	cw.write(t, withYAML(`notify:
  receivers:
    - name: ward
      url: https://ward.example/hook
  routes:
    - receiver: ward
      match: {alertname: Fevr}
  default_receiver: ward
`))
	typo := cw.config
	out, err = exec.Command(binPath, "check", "--config", typo).CombinedOutput()
	want = typo + `: notify.routes[0].match.alertname: no rule defines alert "Fevr", so the route never matches`
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Fatalf("check of a route to no rule: want exit 1 and %q, got %v\n%s", want, err, out)
	}

	// Fixed, and with a receiver of format mqtt: check passes.
	cw.write(t, motion(`        schedule: "22:00-06:00"
`), cameras, withAlerts(), withYAML(`notify:
  receivers:
    - name: siren
      format: mqtt
  default_receiver: siren
  mqtt:
    enabled: false
`))
	good := cw.config
	out, err = exec.Command(binPath, "check", "--config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": ok") {
		t.Fatalf("good config: %v\n%s", err, out)
	}
}
