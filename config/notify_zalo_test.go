package config

import (
	"fmt"
	"strings"
	"testing"
)

// zaloReceiverCases are notify sections with a receiver of format zalo and the exact error parse gives ("" =
// valid). The access token is a secret: no error quotes it.
var zaloReceiverCases = []parseCase{
	{"valid on the Zalo API's URL", `notify:
  receivers:
    - name: ward-zalo
      format: zalo
      zalo_user_id: "2512523625412515"
      zalo_access_token: ZALOTOKEN-abc_123`, ""},
	{"token from a file", `notify:
  receivers:
    - name: ward-zalo
      format: zalo
      zalo_user_id: "2512523625412515"
      zalo_access_token_file: testdata/secrets/webhook.secret`, ""},
	{"missing user and token", `notify:
  receivers:
    - name: ward-zalo
      format: zalo`, "c.yaml:3: notify.receivers[0].zalo_user_id: is required for format zalo (the user the Official Account sends to)\n" +
		"c.yaml:3: notify.receivers[0].zalo_access_token: is required for format zalo (the Official Account's access token)"},
	{"bad user id and token with a space", `notify:
  receivers:
    - name: ward-zalo
      format: zalo
      zalo_user_id: "nurse kim"
      zalo_access_token: "SECRET with space"`, "c.yaml:5: notify.receivers[0].zalo_user_id: must be the numeric Zalo user id, at most 32 digits; got \"nurse kim\"\n" +
		"c.yaml:6: notify.receivers[0].zalo_access_token: must not contain spaces or control characters (the value is not shown)"},
	{"zalo keys on another format", `notify:
  receivers:
    - name: ops
      url: https://hooks.example/x
      zalo_user_id: "1"
      zalo_access_token: SECRETTOKEN`, "c.yaml:5: notify.receivers[0].zalo_user_id: is only used with format zalo; got format \"citywatch\"\n" +
		"c.yaml:6: notify.receivers[0].zalo_access_token: is only used with format zalo; got format \"citywatch\""},
	{"private url needs allow_private", `notify:
  receivers:
    - name: ward-zalo
      format: zalo
      url: http://127.0.0.1:9/v3.0/oa/message/cs
      zalo_user_id: "2512523625412515"
      zalo_access_token: ZALOTOKEN-abc_123`, "c.yaml:5: notify.receivers[0].url: host 127.0.0.1 is a loopback address; set allow_private: true to deliver to internal addresses"},
}

func TestZaloReceiver(t *testing.T) {
	runParseCases(t, zaloReceiverCases, func(t *testing.T, cfg *Config) {
		r := cfg.Notify.Receivers[0]
		switch {
		case r.ZaloAccessToken.Value() == "" || r.ZaloUserID == "":
			t.Errorf("zalo keys not read: %+v", r)
		case strings.Contains(fmt.Sprintf("%v %+v %#v", r, r, r), "ZALOTOKEN"):
			t.Errorf("the receiver prints its token")
		}
	}, "SECRET")
}
