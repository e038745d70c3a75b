package main_test

import (
	"errors"
	"fmt"
	"os"
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
	needBinary(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "motion.rules.yaml")
	if err := os.WriteFile(rules, []byte(`groups:
  - name: night
    rules:
      - alert: NightMotion
        event: zone_motion
        match: {zone: door}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("data_dir: %s\nhttp:\n  listen: 127.0.0.1:0\nbroker:\n  listen: 127.0.0.1:0\n  allow_anonymous: true\n", filepath.Join(dir, "data"))
	cameras := `cameras:
  - id: gate
    site: depot
    url: rtsp://127.0.0.1:1/gate
    zones: ["door: 0.1,0.1 0.5,0.1 0.5,0.5"]
`
	bad := writeConfig(t, dir, head+cameras+"alerts:\n  rule_files: [motion.rules.yaml]\n")
	want := rules + `:4: rule "NightMotion": schedule: required for zone_motion, e.g. "22:00-06:00"`

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
	typo := writeConfig(t, dir, head+`notify:
  receivers:
    - name: ward
      url: https://ward.example/hook
  routes:
    - receiver: ward
      match: {alertname: Fevr}
  default_receiver: ward
`)
	out, err = exec.Command(binPath, "check", "--config", typo).CombinedOutput()
	want = typo + `: notify.routes[0].match.alertname: no rule defines alert "Fevr", so the route never matches`
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Fatalf("check of a route to no rule: want exit 1 and %q, got %v\n%s", want, err, out)
	}

	// Fixed, and with a receiver of format mqtt: check passes.
	if err := os.WriteFile(rules, []byte(`groups:
  - name: night
    rules:
      - alert: NightMotion
        event: zone_motion
        match: {zone: door}
        schedule: "22:00-06:00"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	good := writeConfig(t, dir, head+cameras+`alerts:
  rule_files: [motion.rules.yaml]
notify:
  receivers:
    - name: siren
      format: mqtt
  default_receiver: siren
  mqtt:
    enabled: false
`)
	out, err = exec.Command(binPath, "check", "--config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": ok") {
		t.Fatalf("good config: %v\n%s", err, out)
	}
}
