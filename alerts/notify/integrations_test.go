package notify_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/alerts/notify"
	"citywatch/alerts/notify/notifytest"
	"citywatch/config"
)

// Secrets every HTTP integration under the kit is configured with.
const (
	signingSecret = "whsec_c2lnbmluZy1zZWNyZXQtb2YtdGhlLWtpdA=="
	headerSecret  = "Bearer HEADERSECRETvalue42"
	zaloToken     = "ZALOTOKENxYz_0123456789-abcdefghij"
)

// integrations is every receiver kind that posts over HTTP, with what the kit needs to know of it.
var integrations = []struct {
	format string
	tweak  func(r *notify.Receiver)
	kit    notifytest.HTTP
}{
	{format: notify.FormatCitywatch},
	{format: notify.FormatAlertmanager},
	{format: notify.FormatAlertmanagerAPI},
	{format: notify.FormatSlack, kit: notifytest.HTTP{MaxBodyBytes: 16 << 10}},
	{format: notify.FormatTeams, kit: notifytest.HTTP{MaxBodyBytes: 64 << 10}},
	{format: notify.FormatTeamsMessageCard, kit: notifytest.HTTP{MaxBodyBytes: 64 << 10}},
	{format: notify.FormatTemplate, tweak: func(r *notify.Receiver) {
		r.Template = `{"text":{{json .Summary}}}`
	}},
	{format: notify.FormatTelegram, tweak: func(r *notify.Receiver) { r.TelegramChatID = "-100123" },
		kit: notifytest.HTTP{OK: `{"ok":true}`, MaxBodyBytes: 16 << 10,
			RetryAfterBody: `{"ok":false,"error_code":429,"parameters":{"retry_after":7}}`}},
	{format: notify.FormatZalo, tweak: func(r *notify.Receiver) {
		r.ZaloUserID, r.ZaloAccessToken = "2512523625412515", zaloToken
	}, kit: notifytest.HTTP{OK: `{"error":0,"message":"Success"}`, MaxBodyBytes: 16 << 10, Secrets: []string{zaloToken},
		ErrorBody: func(msg string) string {
			b, _ := json.Marshal(map[string]any{"error": -216, "message": msg})
			return string(b)
		}}},
}

// TestIntegrationsPassTheKit runs every HTTP receiver kind through notifytest, configured with a signing
// secret and an Authorization header besides its own secrets.
func TestIntegrationsPassTheKit(t *testing.T) {
	for _, tc := range integrations {
		t.Run(tc.format, func(t *testing.T) {
			kit := tc.kit
			kit.Secrets = append(kit.Secrets, signingSecret, headerSecret)
			kit.New = func(t *testing.T, url string) notify.Notifier {
				r := notify.Receiver{Name: "kit", URL: url, Format: tc.format, AllowPrivate: true,
					Secrets: []string{signingSecret}, Headers: map[string]string{"Authorization": headerSecret}}
				if tc.tweak != nil {
					tc.tweak(&r)
				}
				n, err := notify.NewNotifier(notify.Config{Receivers: []notify.Receiver{r}, DefaultReceiver: "kit"}, "kit", notify.Deps{})
				require.NoError(t, err)
				return n
			}
			notifytest.RunHTTP(t, kit)
		})
	}
}

// publisher hands what the mqtt integration publishes to the kit.
type publisher func(body []byte) error

func (p publisher) Publish(_ string, payload []byte, _ bool, _ byte) error { return p(payload) }

func TestMQTTIntegrationPassesTheKit(t *testing.T) {
	notifytest.RunPublish(t, notifytest.Publish{New: func(t *testing.T, send func([]byte) error) notify.Notifier {
		cfg := notify.Config{Receivers: []notify.Receiver{{Name: "siren", Format: notify.FormatMQTT}}, DefaultReceiver: "siren"}
		n, err := notify.NewNotifier(cfg, "siren", notify.Deps{MQTT: publisher(send)})
		require.NoError(t, err)
		return n
	}})
}

// TestEveryKindRunsTheKit: every receiver format (config.NotifyFormats, which TestKindsAreTheConfiguredFormats
// ties to the integrations) is run through notifytest, the HTTP ones by TestIntegrationsPassTheKit and mqtt by
// TestMQTTIntegrationPassesTheKit; a new kind fails here until its kit run is added.
func TestEveryKindRunsTheKit(t *testing.T) {
	kit := []string{notify.FormatMQTT}
	for _, tc := range integrations {
		kit = append(kit, tc.format)
	}
	for _, f := range config.NotifyFormats {
		if !slices.Contains(kit, f) {
			t.Errorf("receiver format %q is not run through notifytest: add it to integrations", f)
		}
	}
}
