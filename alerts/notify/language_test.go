package notify

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// viFever is a fever alert whose rule gives a Vietnamese summary (deploy/rules: summary_vi), as delivered.
var viFever = Change{Fingerprint: "f3a1c2d4e5b6a7c8", Name: "Fever", State: "firing", Value: 38.9,
	Labels: map[string]string{"alertname": "Fever", "site": "ward-b", "room": "203", "device": "bed7", "severity": "critical"},
	Annotations: map[string]string{
		"summary":    "Fever in room 203 at ward-b: case C-17 reads 38.9 °C (wearable bed7)",
		"summary_vi": "Sốt ở phòng 203 tại ward-b: ca C-17 đo được 38,9 °C (thiết bị đeo bed7)",
	},
	StartsAt: time.Date(2026, 12, 7, 10, 20, 0, 0, time.UTC), GeneratorURL: "https://cw.example/alerts/f3a1c2d4e5b6a7c8"}

// chatReceivers are the formats people read, in Vietnamese at Ho Chi Minh City time.
var chatReceivers = []Receiver{
	{Name: "slack", Format: FormatSlack},
	{Name: "teams", Format: FormatTeams},
	{Name: "teamscard", Format: FormatTeamsMessageCard},
	{Name: "tg", Format: FormatTelegram, TelegramChatID: "-100123"},
	{Name: "zalo", Format: FormatZalo, ZaloUserID: "2512523625412515", ZaloAccessToken: "not-in-the-body"},
}

// nonASCIIEscape is a JSON \u escape of a character beyond ASCII.
var nonASCIIEscape = regexp.MustCompile(`(?i)\\u(?:00[89a-f]|0[1-9a-f]|[1-9a-f])`)

func renderVi(t *testing.T, r Receiver, c Change) string {
	t.Helper()
	r.URL, r.Language, r.TimeZone = "https://hooks.example/x", "vi", "Asia/Ho_Chi_Minh"
	cr := compileOne(t, r)
	sc := toStored(c)
	body, _, err := render(cr, buildPayload("cw_key", r.Name, "https://cw.example", sc), sc, "https://cw.example")
	require.NoError(t, err)
	require.True(t, utf8.Valid(body))
	require.NotRegexp(t, nonASCIIEscape, string(body), "diacritics are sent as UTF-8, not escaped")
	return texts(t, body)
}

// texts are the strings of a JSON body, one a line, as a reader sees them (Go escapes < and > in JSON).
func texts(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k])
			}
		}
	}
	walk(v)
	return strings.Join(out, "\n")
}

// TestVietnameseFeverEveryChatFormat: a receiver with language vi gets the rule's Vietnamese summary, labels,
// state and a dd/MM/yyyy HH:mm date in its zone, named; diacritics arrive as UTF-8, not escaped or mangled.
func TestVietnameseFeverEveryChatFormat(t *testing.T) {
	for _, r := range chatReceivers {
		t.Run(r.Format, func(t *testing.T) {
			body := renderVi(t, r, viFever)
			for _, want := range []string{"Sốt ở phòng 203", "ĐANG KÍCH HOẠT", "Tóm tắt", "Giá trị", "38,9",
				"Bắt đầu lúc", "07/12/2026 17:20 (Asia/Ho_Chi_Minh, UTC+07:00)", "Nhãn"} {
				require.Contains(t, body, want)
			}
			require.NotContains(t, body, "Summary")
			require.NotContains(t, body, "Fever in room", "the English summary is replaced")
			if r.Format != FormatZalo { // zalo is plain text: the link alone
				require.Contains(t, body, "Mở trong citywatch")
			}
		})
	}
}

// TestVietnameseGeneratedTexts: without summary_vi the generated summary, the reminder tag and a resolved
// alert's outage are Vietnamese too.
func TestVietnameseGeneratedTexts(t *testing.T) {
	c := viFever
	c.Annotations = map[string]string{"description_vi": "Nhiệt độ cơ thể trên 38,0 °C trong 2 phút."}
	c.Reminder = true
	body := renderVi(t, Receiver{Name: "zalo", Format: FormatZalo, ZaloUserID: "1", ZaloAccessToken: "x"}, c)
	require.Contains(t, body, "[ĐANG KÍCH HOẠT, NHẮC LẠI] Fever @ ward-b")
	require.Contains(t, body, "Tóm tắt: Fever: đang kích hoạt tại ward-b (giá trị 38,9)")
	require.Contains(t, body, "Mô tả: Nhiệt độ cơ thể trên 38,0 °C")

	res := toChange(goldenChanges["resolved"])
	body = renderVi(t, Receiver{Name: "tg", Format: FormatTelegram, TelegramChatID: "1"}, res)
	require.Contains(t, body, "[ĐÃ HẾT] HighBodyTemperature @ ward-b")
	require.Contains(t, body, "Kéo dài:</b> 42 phút 30 giây")
	require.Contains(t, body, "Người xác nhận:</b> nurse.kim")
	require.Contains(t, body, "01/03/2026 17:00 (Asia/Ho_Chi_Minh, UTC+07:00)")
}

func toChange(c Change) Change { return c }

// TestLanguageJSONPayload: the citywatch JSON says its language and carries the Vietnamese summary; English
// receivers' payloads stay as they were (TestFormatsGolden).
func TestLanguageJSONPayload(t *testing.T) {
	body := renderVi(t, Receiver{Name: "cw", Format: FormatCitywatch}, viFever)
	r := Receiver{Name: "cw", Format: FormatCitywatch, URL: "https://hooks.example/x", Language: "vi", TimeZone: "Asia/Ho_Chi_Minh"}
	raw := renderOne(t, r, viFever)
	var p map[string]any
	require.NoError(t, json.Unmarshal(raw, &p))
	require.Equal(t, "vi", p["language"])
	require.True(t, strings.HasPrefix(p["summary"].(string), "Sốt ở phòng 203"), "%v", p["summary"])
	require.NotContains(t, p, "time_zone")
	require.Contains(t, body, "Sốt")
}

// TestEnglishTimeZone: an English receiver with a time zone gets ISO-like dates in it, the zone named.
func TestEnglishTimeZone(t *testing.T) {
	r := Receiver{Name: "tg", Format: FormatTelegram, TelegramChatID: "1", URL: "https://hooks.example/x", TimeZone: "Asia/Ho_Chi_Minh"}
	raw := renderOne(t, r, viFever)
	body := texts(t, raw)
	require.Contains(t, body, "Since:</b> 2026-12-07 17:20 (Asia/Ho_Chi_Minh, UTC+07:00)")
	require.Contains(t, body, "Fever in room 203")
	require.NotContains(t, raw, `"language"`)
}

var badLanguageCases = []struct {
	name     string
	r        Receiver
	contains string
}{
	{"unknown language", Receiver{Language: "fr"}, `receivers[0].language: unsupported language "fr" (want en or vi)`},
	{"unknown zone", Receiver{TimeZone: "Mars/Olympus"}, `receivers[0].time_zone: must be an IANA time zone such as "Asia/Ho_Chi_Minh", got "Mars/Olympus"`},
	{"local zone", Receiver{TimeZone: "Local"}, `receivers[0].time_zone: must be an IANA time zone`},
}

func TestLanguageValidation(t *testing.T) {
	for _, tc := range badLanguageCases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.Name, r.URL = "x", "https://hooks.example/x"
			err := Config{Receivers: []Receiver{r}, DefaultReceiver: "x"}.Validate()
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), tc.contains), "%v", err)
		})
	}
	ok := Receiver{Name: "x", URL: "https://hooks.example/x", Language: "vi", TimeZone: "Asia/Ho_Chi_Minh"}
	require.NoError(t, Config{Receivers: []Receiver{ok}, DefaultReceiver: "x"}.Validate())
}

// TestZaloDeliveryVietnamese sends a fever alert through the outbox to a local Zalo API with the receiver in
// Vietnamese: the text the nurse reads is the rule's summary_vi with Vietnamese labels and a local date,
// and the token travels in its header only.
func TestZaloDeliveryVietnamese(t *testing.T) {
	h := newZaloAPI(t)
	r := zaloReceiver(h)
	r.Language, r.TimeZone = "vi", "Asia/Ho_Chi_Minh"
	c := testChange("Fever")
	c.Annotations = viFever.Annotations
	c.StartsAt = viFever.StartsAt
	req := deliverFirst(t, h, r, c)
	require.Equal(t, testZaloToken, req.header.Get("access_token"))
	var body zaloMessage
	require.NoError(t, json.Unmarshal(req.body, &body))
	text := body.Message.Text
	require.True(t, strings.HasPrefix(text, "[ĐANG KÍCH HOẠT] Fever @ siteA\n"), text)
	require.Contains(t, text, "Tóm tắt: Sốt ở phòng 203 tại ward-b: ca C-17 đo được 38,9 °C")
	require.Contains(t, text, "Bắt đầu lúc: 07/12/2026 17:20 (Asia/Ho_Chi_Minh, UTC+07:00)")
	require.Contains(t, string(req.body), "Sốt ở phòng", "diacritics are sent as UTF-8")
	require.NotContains(t, string(req.body), testZaloToken)
}
