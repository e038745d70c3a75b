package config

import "testing"

// receiverLanguageCases are notify sections with a receiver's language and time_zone, and the exact error
// parse gives ("" = valid).
var receiverLanguageCases = []struct {
	name string
	in   string
	err  string
}{
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
	for _, tc := range receiverLanguageCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse([]byte(tc.in+"\n"), "c.yaml", testEnv())
			switch {
			case tc.err != "":
				if err == nil || err.Error() != tc.err {
					t.Errorf("error:\n%v\nwant:\n%s", err, tc.err)
				}
			case err != nil:
				t.Errorf("%v", err)
			case cfg.Notify.Receivers[0].Language != "vi" || cfg.Notify.Receivers[0].TimeZone != "Asia/Ho_Chi_Minh":
				t.Errorf("language keys not read: %+v", cfg.Notify.Receivers[0])
			}
		})
	}
}
