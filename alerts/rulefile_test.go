package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badRuleFiles are rule files that must be rejected at load, with the expected error fragments.
var badRuleFiles = []struct {
	name string
	yaml string
	want []string
}{
	{"bad expr", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(x[5m]\n", []string{
		"r.yaml:4: rule \"A\": expr:", "unclosed left parenthesis"}},
	{"bad template", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    annotations:\n      summary: '{{ $labels.site '\n",
		[]string{"r.yaml:4: rule \"A\": annotations.summary: template:"}},
	{"unknown template function", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    labels:\n      x: '{{ nosuch $value }}'\n",
		[]string{"r.yaml:4: rule \"A\": labels.x: template:", "nosuch"}},
	{"unknown rule key", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    fro: 5m\n",
		[]string{`r.yaml:6: groups[0].rules[0]: unknown key "fro"`}},
	{"unknown group key", "groups:\n- name: g\n  limit: 3\n  rules: []\n", []string{`r.yaml:3: groups[0]: unknown key "limit"`}},
	{"unknown top key", "rule_files: []\n", []string{`r.yaml:1: file: unknown key "rule_files"`}},
	{"bad duration", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 minutes\n",
		[]string{`r.yaml:6: groups[0].rules[0].for: bad duration "5 minutes"`}},
	{"missing expr", "groups:\n- name: g\n  rules:\n  - alert: A\n", []string{"r.yaml:4: rule \"A\": one of expr or event is required"}},
	{"both expr and event", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    event: camera_offline\n",
		[]string{"mutually exclusive"}},
	{"recording rule", "groups:\n- name: g\n  rules:\n  - record: x\n    expr: up\n", []string{"recording rules are not supported"}},
	{"unknown event kind", "groups:\n- name: g\n  rules:\n  - alert: A\n    event: meteor\n", []string{`unknown event rule kind "meteor"`}},
	{"event key without event", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    window: 1m\n",
		[]string{`need "event"`}},
	{"device_silent without window", "groups:\n- name: g\n  rules:\n  - alert: A\n    event: device_silent\n",
		[]string{"window: required"}},
	{"bad schedule", "groups:\n- name: g\n  rules:\n  - alert: A\n    event: zone_motion\n    schedule: '25:00-06:00'\n",
		[]string{`bad time of day "25:00"`}},
	{"bad timezone", "groups:\n- name: g\n  rules:\n  - alert: A\n    event: zone_motion\n    schedule: '22:00-06:00'\n    timezone: Mars/Olympus\n",
		[]string{"timezone:"}},
	{"duplicate group", "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n", []string{`r.yaml:4: groups[1].name: duplicate group name "g"`}},
	// Every problem at once, in line order: a decoding error does not hide the next rule's validation error.
	{"decoding and validation errors together", "groups:\n- name: g\n  rules:\n  - alert: A\n    event: zone_motion\n  - alert: B\n    expr: up\n    fro: 5m\n  - alert: C\n    expr: rate(x[5m]\n",
		[]string{"r.yaml:4: rule \"A\": schedule: required for zone_motion", "\nr.yaml:8: groups[0].rules[1]: unknown key \"fro\"\nr.yaml:9: rule \"C\": expr:"}},
	{"duplicate key", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    expr: down\n", []string{`duplicate key "expr"`}},
	{"alias", "x: &a 1\ngroups: *a\n", []string{"unknown key \"x\""}},
	{"alertname label", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: {alertname: B}\n", []string{"cannot be set"}},
	{"bad alert name", "groups:\n- name: g\n  rules:\n  - alert: ''\n    expr: up\n", []string{"invalid alert name"}},
	{"not yaml", "groups: [\n", []string{"r.yaml: yaml:"}},
	{"rules not a list", "groups:\n- name: g\n  rules: {a: 1}\n", []string{"r.yaml:3: groups[0].rules: must be a list"}},
	{"flap_count not an integer", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    flap_count: many\n",
		[]string{`r.yaml:6: groups[0].rules[0].flap_count: must be an integer, got "many"`}},
	{"bad flap_notify", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    flap_notify: always\n",
		[]string{`r.yaml:4: rule "A": flap_notify: must be "transitions" or "none", got "always"`}},
	{"negative flap_window", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    flap_window: -1m\n",
		[]string{`r.yaml:6: groups[0].rules[0].flap_window: bad duration "-1m"`}},
	{"threshold not a number", "groups:\n- name: g\n  rules:\n  - alert: A\n    event: ingest_rejected\n    threshold: lots\n",
		[]string{`must be a number, got "lots"`}},
}

const goodRuleFile = `groups:
  - name: quarantine
    interval: 15s
    rules:
      - alert: Fever
        expr: body_temperature > 38.0
        for: 2m
        keep_firing_for: 1m
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.device }} {{ humanize $value }}"
  - name: cameras
    rules:
      - alert: CameraOffline
        event: camera_offline
        for: 30s
        match: {site: "q-hotel-1"}
`

func TestParseRuleFileErrors(t *testing.T) {
	for _, tc := range badRuleFiles {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRuleFile("r.yaml", []byte(tc.yaml))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseRuleFile(t *testing.T) {
	rules, err := ParseRuleFile("r.yaml", []byte(goodRuleFile))
	require.NoError(t, err)
	require.Len(t, rules, 2)
	assert.Equal(t, Rule{Alert: "Fever", Expr: "body_temperature > 38.0", For: 2 * time.Minute, KeepFiringFor: time.Minute,
		Labels: map[string]string{"severity": "critical"}, Annotations: map[string]string{"summary": "{{ $labels.device }} {{ humanize $value }}"},
		File: "r.yaml", Line: 5, Group: "quarantine", Interval: 15 * time.Second}, rules[0])
	assert.Equal(t, &EventSpec{Kind: EventCameraOffline, Match: map[string]string{"site": "q-hotel-1"}}, rules[1].Event)
	assert.Equal(t, 30*time.Second, rules[1].For)
	assert.Equal(t, 14, rules[1].Line)

	empty, err := ParseRuleFile("e.yaml", nil)
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func TestLoadRuleFilesReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(good, []byte(goodRuleFile), 0o600))
	require.NoError(t, os.WriteFile(bad, []byte(badRuleFiles[0].yaml), 0o600))
	rules, err := LoadRuleFiles(good)
	require.NoError(t, err)
	assert.Len(t, rules, 2)
	_, err = LoadRuleFiles(good, bad, filepath.Join(dir, "missing.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad+":4:")
	assert.Contains(t, err.Error(), "missing.yaml")
}

func TestDefaultRulePack(t *testing.T) {
	rules, err := LoadRuleFiles("../deploy/rules/citywatch-default.yaml")
	require.NoError(t, err)
	names := map[string]Rule{}
	for _, r := range rules {
		names[r.Alert] = r
	}
	for _, n := range []string{"Fever", "WearableSilent", "RoomCO2High", "CameraOffline", "CameraTampered",
		"NightDoorMotion", "WaterLevelRisingFast", "IngestRejectedBurst"} {
		assert.Contains(t, names, n)
	}
	assert.Equal(t, 2*time.Minute, names["Fever"].For)
	assert.Equal(t, "critical", names["Fever"].Labels["severity"])
	assert.Equal(t, 30*time.Second, names["CameraOffline"].For)

	// The pack works end to end: a fever and a silent wearable from simulator-shaped series.
	e := newEnv(t, Config{Rules: rules})
	w := map[string]string{"district": "central", "site": "q-hotel-1", "device": "wearable-001"}
	for i := 0; i <= 180; i += 10 {
		e.add("body_temperature", w, float64(i), 38.6)
		e.add("device_last_seen_seconds", w, float64(i), float64(200+i))
	}
	// wearable-002 reports until 100s, then its registry entry is gone (a restart) and it stays silent.
	w2 := map[string]string{"district": "north", "site": "q-hotel-2", "device": "wearable-002"}
	for i := 0; i <= 100; i += 5 {
		e.add("device_last_seen_seconds", w2, float64(i), 1)
	}
	e.at(0)
	e.at(100 * sec)
	assert.Empty(t, e.active("WearableSilent", "device"), "300s is not yet silent")
	e.at(110 * sec)
	assert.Equal(t, StateFiring, e.active("WearableSilent", "device")["wearable-001"].State)
	e.at(120 * sec)
	f := e.active("Fever", "device")["wearable-001"]
	require.Equal(t, StateFiring, f.State)
	assert.Equal(t, "Fever at q-hotel-1: wearable-001 reads 38.6 °C", f.Annotations["summary"])
	assert.NotContains(t, e.active("WearableSilent", "device"), "wearable-002")
	e.at(399 * sec)
	assert.NotContains(t, e.active("WearableSilent", "device"), "wearable-002", "within the lookback")
	// The group is evaluated every 10 s (its selectors scan every device): the alert comes at the first
	// evaluation after 5 minutes of silence, at most 10 s late.
	e.at(409 * sec)
	assert.Equal(t, StateFiring, e.active("WearableSilent", "device")["wearable-002"].State,
		"silent for over 5 minutes with no registry entry")
}

func FuzzParseRuleFile(f *testing.F) {
	for _, tc := range badRuleFiles {
		f.Add([]byte(tc.yaml))
	}
	f.Add([]byte(goodRuleFile))
	if pack, err := os.ReadFile("../deploy/rules/citywatch-default.yaml"); err == nil {
		f.Add(pack)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type result struct {
			rules []Rule
			err   error
		}
		done := make(chan result, 1)
		go func() {
			r, err := ParseRuleFile("fuzz.yaml", data)
			done <- result{r, err}
		}()
		var res result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("ParseRuleFile hangs on %q", data)
		}
		rules, err := res.rules, res.err
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error without file position: %v", err)
			}
			return
		}
		for _, r := range rules {
			if _, err := compile(r); err != nil {
				t.Errorf("accepted rule does not compile: %v", err)
			}
		}
	})
}
