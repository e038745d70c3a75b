package notify

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

var goldenChanges = map[string]Change{
	"firing": {Fingerprint: "f3a1c2d4e5b6a7c8", Name: "CameraDown", State: "firing",
		Labels:      map[string]string{"alertname": "CameraDown", "site": "quarantine-3", "camera": "gate 1", "severity": "critical"},
		Annotations: map[string]string{"summary": "Camera gate 1 is down", "description": "No frames for 60s <check power>", "last_values": `{"camera_up":0}`},
		Value:       0, StartsAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), GeneratorURL: "https://cw.example/alerts/f3a1c2d4e5b6a7c8"},
	"resolved": {Fingerprint: "0a0b0c0d0e0f1011", Name: "HighBodyTemperature", State: "resolved",
		Labels: map[string]string{"alertname": "HighBodyTemperature", "site": "ward-b", "device": "bed7"},
		Value:  math.NaN(), StartsAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), EndsAt: time.Date(2026, 3, 1, 10, 42, 30, 0, time.UTC),
		OutageDuration: 42*time.Minute + 30*time.Second, AckedBy: "nurse.kim", GeneratorURL: "https://cw.example/alerts/0a0b0c0d0e0f1011"},
}

var goldenReceivers = []Receiver{
	{Name: "cw", Format: FormatCitywatch},
	{Name: "am", Format: FormatAlertmanager},
	{Name: "amapi", Format: FormatAlertmanagerAPI},
	{Name: "slack", Format: FormatSlack},
	{Name: "teams", Format: FormatTeams},
	{Name: "teamscard", Format: FormatTeamsMessageCard},
	{Name: "tg", Format: FormatTelegram, TelegramChatID: "-100123"},
	{Name: "zalo", Format: FormatZalo, ZaloUserID: "2512523625412515", ZaloAccessToken: "not-in-the-body"},
	{Name: "tmpl", Format: FormatTemplate, Template: `{"text":{{json (printf "%s is %s at %s" .Alert .State .Site)}},"since":"{{rfc3339 .StartsAt}}"}`},
}

func TestFormatsGolden(t *testing.T) {
	for _, r := range goldenReceivers {
		r.URL = "https://hooks.example/x"
		cr := compileOne(t, r)
		states := []string{"firing", "resolved"}
		sort.Strings(states)
		for _, st := range states {
			t.Run(r.Format+"_"+st, func(t *testing.T) {
				c := toStored(goldenChanges[st])
				p := buildPayload("cw_key", r.Name, "https://cw.example", c)
				body, ctype, err := render(cr, p, c, "https://cw.example")
				require.NoError(t, err)
				require.Equal(t, "application/json", ctype)
				require.True(t, json.Valid(body), "%s", body)
				var pretty any
				require.NoError(t, json.Unmarshal(body, &pretty))
				got, _ := json.MarshalIndent(pretty, "", "  ")
				path := filepath.Join("testdata", "golden", r.Format+"_"+st+".json")
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
					require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err)
				require.JSONEq(t, string(want), string(body))
			})
		}
	}
}

// The Alertmanager webhook field names are a contract with third-party consumers: check them literally.
func TestAlertmanagerFieldNames(t *testing.T) {
	c := toStored(goldenChanges["firing"])
	b, err := json.Marshal(alertmanagerPayload("am", "https://cw.example", nil, c))
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
		"commonLabels", "commonAnnotations", "externalURL", "alerts"}, keys)
	require.JSONEq(t, `"4"`, string(m["version"]))
	var alerts []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(m["alerts"], &alerts))
	keys = keys[:0]
	for k := range alerts[0] {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}, keys)
}

func TestCitywatchPayloadFields(t *testing.T) {
	p := NewPayload("id1", "cw", "https://cw.example/", goldenChanges["firing"])
	require.Equal(t, "https://cw.example/api/cameras/gate%201/snapshot.jpg", p.SnapshotURL)
	require.Equal(t, "quarantine-3", p.Site)
	require.NotNil(t, p.Value)
	require.JSONEq(t, `{"camera_up":0}`, string(p.LastValues))
	r := NewPayload("id2", "cw", "", goldenChanges["resolved"])
	require.Nil(t, r.Value, "NaN becomes null")
	require.Equal(t, 2550.0, *r.OutageSeconds)
	require.Equal(t, "nurse.kim", r.AckedBy)
}

// TestFlappingReachesTheReceiver: a flapping alert's one notification says so, in the body and the chat title,
// after the round trip through the outbox's stored form.
func TestFlappingReachesTheReceiver(t *testing.T) {
	c := goldenChanges["firing"]
	c.Flapping, c.FlapCount = true, 3
	p := buildPayload("id1", "cw", "", toStored(c))
	require.True(t, p.Flapping)
	require.Equal(t, 3, p.FlapCount)
	require.Contains(t, payloadTitle(p), "FIRING, FLAPPING")
	plain := NewPayload("id2", "cw", "", goldenChanges["firing"])
	require.False(t, plain.Flapping)
	require.NotContains(t, payloadTitle(plain), "FLAPPING")
}

func TestTelegramLongMessageCutOnLine(t *testing.T) {
	c := goldenChanges["firing"]
	c.Annotations = map[string]string{"description": string(make([]byte, 5000))}
	p := telegramPayload("1", NewPayload("x", "tg", "", c))
	require.LessOrEqual(t, len(p["text"].(string)), 4096)
}
