package config

import (
	"slices"
	"testing"
)

// cameraIDCases are the camera id rule (CameraIDRule), applied alike by config, cameras, analyze and media.
var cameraIDCases = []ruleCase{
	{"cam1", true},
	{"gate-2_north", true},
	{"Cam.Entrance", true}, // accepted by the components before; config used to refuse it
	{"a", true},
	{string(make([]byte, 64)), false},
	{"x234567890123456789012345678901234567890123456789012345678901234", true},   // 64
	{"x2345678901234567890123456789012345678901234567890123456789012345", false}, // 65
	{"", false},
	{".", false},
	{"..", false},
	{"a b", false},
	{"a/b", false},
	{"é", false},
}

// ruleCase is a name and whether a rule accepts it.
type ruleCase struct {
	s  string
	ok bool
}

// checkRule fails for each case valid decides differently from the table.
func checkRule(t *testing.T, name string, valid func(string) bool, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		if got := valid(tc.s); got != tc.ok {
			t.Errorf("%s(%q) = %v, want %v", name, tc.s, got, tc.ok)
		}
	}
}

// checkLoads fails for each case whose configuration, src(case), loads when the rule refuses it or fails to
// load when the rule accepts it.
func checkLoads(t *testing.T, cases []ruleCase, src func(string) string) {
	t.Helper()
	for _, tc := range cases {
		if _, err := Parse([]byte(src(tc.s)), "test.yaml"); (err == nil) != tc.ok {
			t.Errorf("%q: Parse error %v, want ok=%v", tc.s, err, tc.ok)
		}
	}
}

func TestValidCameraID(t *testing.T) { checkRule(t, "ValidCameraID", ValidCameraID, cameraIDCases) }

// TestCameraIDRuleAtLoad: an id the components accept loads (it used to fail config's narrower rule).
func TestCameraIDRuleAtLoad(t *testing.T) {
	cases := slices.DeleteFunc(slices.Clone(cameraIDCases), func(tc ruleCase) bool {
		return tc.s == "" || len(tc.s) > 70 || tc.s[0] == 0
	})
	checkLoads(t, cases, func(id string) string {
		return "cameras:\n  - id: \"" + id + "\"\n    site: s\n    url: rtsp://cam.example/s\n"
	})
}

// receiverNameCases are the receiver name rule (ReceiverNameRule), applied alike by config and the outbox.
var receiverNameCases = []ruleCase{
	{"ops", true},
	{"on-call_2", true},
	{"x234567890123456789012345678901234567890123456789012345678901234", true},   // 64
	{"x2345678901234567890123456789012345678901234567890123456789012345", false}, // 65
	{"", false},
	{"Ops", false},
	{"bad name", false},
	{"notify.mqtt", false}, // the outbox's built-in MQTT receiver
	{"é", false},
}

func TestValidReceiverName(t *testing.T) {
	checkRule(t, "ValidReceiverName", ValidReceiverName, receiverNameCases)
}

// TestReceiverNameRuleAtLoad: a name loads exactly when ValidReceiverName accepts it, so every receiver that
// loads passes the outbox's check.
func TestReceiverNameRuleAtLoad(t *testing.T) {
	checkLoads(t, receiverNameCases, func(name string) string {
		return "notify:\n  receivers:\n    - name: \"" + name + "\"\n      url: https://hooks.example/x\n" +
			"  default_receiver: \"" + name + "\"\n"
	})
}
