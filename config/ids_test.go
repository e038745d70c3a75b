package config

import "testing"

// cameraIDCases are the camera id rule (CameraIDRule), applied alike by config, cameras, analyze and media.
var cameraIDCases = []struct {
	id string
	ok bool
}{
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

func TestValidCameraID(t *testing.T) {
	for _, tc := range cameraIDCases {
		if got := ValidCameraID(tc.id); got != tc.ok {
			t.Errorf("ValidCameraID(%q) = %v, want %v", tc.id, got, tc.ok)
		}
	}
}

// TestCameraIDRuleAtLoad: an id the components accept loads (it used to fail config's narrower rule).
func TestCameraIDRuleAtLoad(t *testing.T) {
	for _, tc := range cameraIDCases {
		if tc.id == "" || len(tc.id) > 70 || tc.id[0] == 0 {
			continue
		}
		src := "cameras:\n  - id: \"" + tc.id + "\"\n    site: s\n    url: rtsp://cam.example/s\n"
		_, err := Parse([]byte(src), "test.yaml")
		if (err == nil) != tc.ok {
			t.Errorf("id %q: Parse error %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}

// receiverNameCases are the receiver name rule (ReceiverNameRule), applied alike by config and the outbox.
var receiverNameCases = []struct {
	name string
	ok   bool
}{
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
	for _, tc := range receiverNameCases {
		if got := ValidReceiverName(tc.name); got != tc.ok {
			t.Errorf("ValidReceiverName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestReceiverNameRuleAtLoad: a name loads exactly when ValidReceiverName accepts it, so every receiver that
// loads passes the outbox's check.
func TestReceiverNameRuleAtLoad(t *testing.T) {
	for _, tc := range receiverNameCases {
		src := "notify:\n  receivers:\n    - name: \"" + tc.name + "\"\n      url: https://hooks.example/x\n" +
			"  default_receiver: \"" + tc.name + "\"\n"
		_, err := Parse([]byte(src), "test.yaml")
		if (err == nil) != tc.ok {
			t.Errorf("name %q: Parse error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
