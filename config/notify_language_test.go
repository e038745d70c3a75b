package config

import "testing"

// receiverLanguageCases are notify sections with a receiver's language and time_zone, and the exact error
// parse gives ("" = valid).
var receiverLanguageCases = []parseCase{
	{"vietnamese at Ho Chi Minh City time", `notify:
  receivers:
    - name: ward-zalo
      format: zalo
      zalo_user_id: "2512523625412515"
      zalo_access_token: ZALOTOKEN-abc_123
      language: vi
      time_zone: Asia/Ho_Chi_Minh`, ""},
	{"unknown language and zone", `notify:
  receivers:
    - name: ops
      url: https://hooks.example/x
      language: fr
      time_zone: Mars/Olympus`, "c.yaml:5: notify.receivers[0].language: must be en or vi; got \"fr\"\n" +
		"c.yaml:6: notify.receivers[0].time_zone: must be an IANA time zone such as \"Asia/Ho_Chi_Minh\"; got \"Mars/Olympus\""},
}

func TestReceiverLanguage(t *testing.T) {
	runParseCases(t, receiverLanguageCases, func(t *testing.T, cfg *Config) {
		if r := cfg.Notify.Receivers[0]; r.Language != "vi" || r.TimeZone != "Asia/Ho_Chi_Minh" {
			t.Errorf("language keys not read: %+v", r)
		}
	})
}
