package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// configCases are YAML notify configs with the exact error expected ("" = valid). They also seed FuzzConfig.
var configCases = []struct {
	name, yaml, wantErr string
}{
	{"minimal", `
receivers: [{name: ops, url: "https://hooks.example/x"}]
default_receiver: ops`, ""},
	{"full", `
receivers:
  - {name: ops, url: "https://hooks.example/x", format: slack, timeout: 5s, max_concurrency: 2, secrets: ["whsec_MDEyMzQ1Njc4OWFiY2RlZg=="]}
  - {name: tg, url: "https://api.telegram.org/bot123:ABC/sendMessage", format: telegram, telegram_chat_id: "-1"}
  - {name: tmpl, url: "https://hooks.example/y", format: template, template: '{"a":{{json .Alert}}}', headers: {Authorization: "Bearer x"}}
routes:
  - {receiver: tg, match: {severity: critical}, continue: true}
  - {receiver: tmpl, match_re: {site: "ward-.*"}}
default_receiver: ops
external_url: https://cw.example`, ""},
	{"no default", `receivers: [{name: ops, url: "https://hooks.example/x"}]`,
		"default_receiver: required when receivers are configured (changes that match no route go there)"},
	{"bad name", `
receivers: [{name: "bad name", url: "https://hooks.example/x"}]
default_receiver: x`, `receivers[0].name: must be 1-64 characters of [a-z0-9_-], got "bad name"`},
	{"capitals", `
receivers: [{name: Ops, url: "https://hooks.example/x"}]
default_receiver: Ops`, `receivers[0].name: must be 1-64 characters of [a-z0-9_-], got "Ops"`},
	{"duplicate", `
receivers: [{name: a, url: "https://h.example/x"}, {name: a, url: "https://h.example/y"}]
default_receiver: a`, `receivers[1].name: duplicate receiver "a"`},
	{"bad format", `
receivers: [{name: a, url: "https://h.example/x", format: pager}]
default_receiver: a`, `receivers[0].format: unknown format "pager"`},
	{"bad scheme", `
receivers: [{name: a, url: "ftp://h.example/secretpath"}]
default_receiver: a`, `receivers[0].url: scheme must be http or https, got "ftp"`},
	{"private literal", `
receivers: [{name: a, url: "http://169.254.169.254/latest"}]
default_receiver: a`, `receivers[0].url: host 169.254.169.254 is a link-local address; set allow_private to permit it`},
	{"private allowed", `
receivers: [{name: a, url: "http://10.0.0.5:9000/hook", allow_private: true}]
default_receiver: a`, ""},
	{"bad template", `
receivers: [{name: a, url: "https://h.example/x", format: template, template: "{{.Nope}}"}]
default_receiver: a`, `receivers[0].template: executing with a sample firing alert: template: a:1:2: executing "a" at <.Nope>: can't evaluate field Nope`},
	{"unparsable template", `
receivers: [{name: a, url: "https://h.example/x", format: template, template: "{{if}}"}]
default_receiver: a`, `receivers[0].template: template: a:1: missing value for if`},
	{"template without format", `
receivers: [{name: a, url: "https://h.example/x", template: "x"}]
default_receiver: a`, `receivers[0].template: only allowed with format "template"`},
	{"telegram without chat", `
receivers: [{name: a, url: "https://api.telegram.org/bot1:SECRET/sendMessage", format: telegram}]
default_receiver: a`, `receivers[0].telegram_chat_id: required for the telegram format`},
	{"bad regexp", `
receivers: [{name: a, url: "https://h.example/x"}]
routes: [{receiver: a, match_re: {site: "(("}}]
default_receiver: a`, `routes[0].match_re["site"]: invalid regular expression "(("`},
	{"unknown route receiver", `
receivers: [{name: a, url: "https://h.example/x"}]
routes: [{receiver: b}]
default_receiver: a`, `routes[0].receiver: unknown receiver "b"`},
	{"short secret", `
receivers: [{name: a, url: "https://h.example/x", secrets: [tooshort]}]
default_receiver: a`, `receivers[0].secrets[0]: secret is 8 bytes, want at least 16`},
	{"reserved header", `
receivers: [{name: a, url: "https://h.example/x", headers: {webhook-id: x}}]
default_receiver: a`, `receivers[0].headers: header "webhook-id" is set by citywatch and cannot be overridden`},
	{"negative timeout", `
receivers: [{name: a, url: "https://h.example/x", timeout: -1s}]
default_receiver: a`, `receivers[0].timeout: must be > 0, got "-1s"`},
	{"backoff order", `
min_backoff: 10m
max_backoff: 1m`, `max_backoff: must be >= min_backoff (10m0s), got "1m0s"`},
	{"mqtt", `
receivers: [{name: m, format: mqtt}]
default_receiver: m`, ""},
}

func parseConfigYAML(s string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	return c, err
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfigYAML(tc.yaml)
			require.NoError(t, err)
			err = c.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			for _, secret := range []string{"SECRET", "secretpath", "tooshort", "ABC", "/latest"} {
				require.NotContains(t, err.Error(), secret, "errors never carry URLs or secrets")
			}
		})
	}
}

// FuzzConfig checks that no notify config (routes, regexps, templates, URLs, secrets) panics validation.
func FuzzConfig(f *testing.F) {
	for _, tc := range configCases {
		f.Add(tc.yaml)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseConfigYAML(s)
		if err != nil {
			return
		}
		if len(c.Receivers) > 8 || len(c.Routes) > 16 {
			return
		}
		cc, err := compileConfig(c.withDefaults())
		if err != nil {
			return
		}
		// A valid config routes any change without panicking, and to a configured receiver.
		for _, r := range cc.route(Change{Fingerprint: "x", Name: "A", State: "firing", Labels: map[string]string{"site": "s"}}) {
			if cc.receivers[r] == nil {
				t.Fatalf("routed to unknown receiver %q", r)
			}
		}
	})
}

// FuzzTemplate checks that any custom template either fails at load or renders at send time without panicking.
func FuzzTemplate(f *testing.F) {
	for _, r := range goldenReceivers {
		if r.Template != "" {
			f.Add(r.Template)
		}
	}
	f.Add(`{{range $k, $v := .Labels}}{{$k}}={{$v}} {{end}}`)
	f.Add(`{{.Value}} {{html .Summary}} {{default "x" .AckedBy}} {{join (sortKeys .Labels) ","}}`)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "range") && len(s) > 200 {
			return // nested ranges can be slow, not wrong
		}
		tmpl, err := parseTemplate("f", s)
		if err != nil {
			return
		}
		cr := &compiledReceiver{Receiver: Receiver{Name: "f", Format: FormatTemplate, ContentType: "text/plain"}, tmpl: tmpl}
		c := toStored(goldenChanges["firing"])
		_, _, _ = render(cr, buildPayload("k", "f", "", c), c, "")
	})
}

var routeCases = []struct {
	name   string
	labels map[string]string
	want   []string
}{
	{"critical goes to pager and continues to ward", map[string]string{"severity": "critical", "site": "ward-b"}, []string{"pager", "ward"}},
	{"critical elsewhere goes to pager then default", map[string]string{"severity": "critical", "site": "gate"}, []string{"pager"}},
	{"ward only", map[string]string{"site": "ward-a"}, []string{"ward"}},
	{"regexp is anchored", map[string]string{"site": "my-ward-a"}, []string{"ops"}},
	{"alertname is matchable", map[string]string{"alertname": "CameraDown"}, []string{"cams"}},
	{"nothing matches", map[string]string{}, []string{"ops"}},
}

func TestRouting(t *testing.T) {
	mk := func(n string) Receiver { return Receiver{Name: n, URL: "https://h.example/" + n} }
	cc, err := compileConfig(Config{
		Receivers: []Receiver{mk("ops"), mk("pager"), mk("ward"), mk("cams")},
		Routes: []Route{
			{Receiver: "pager", Match: map[string]string{"severity": "critical"}, Continue: true},
			{Receiver: "ward", MatchRE: map[string]string{"site": "ward-.*"}},
			{Receiver: "cams", Match: map[string]string{"alertname": "CameraDown"}},
			{Receiver: "pager", Match: map[string]string{"severity": "critical"}},
		},
		DefaultReceiver: "ops",
	}.withDefaults())
	require.NoError(t, err)
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.labels["alertname"]
			if name == "" {
				name = "Other"
			}
			require.Equal(t, tc.want, cc.route(Change{Name: name, Labels: tc.labels}))
		})
	}
}

var redactCases = []struct{ in, want string }{
	{"https://api.telegram.org/bot123:SECRET/sendMessage", "https://api.telegram.org/<redacted>"},
	{"https://user:pass@h.example/x?token=1", "https://h.example/<redacted>"},
	{"https://hooks.slack.com/services/T/B/XYZ", "https://hooks.slack.com/<redacted>"},
	{"https://h.example", "https://h.example"},
	{"::bad", "<invalid url>"},
}

func TestRedactURL(t *testing.T) {
	for _, tc := range redactCases {
		require.Equal(t, tc.want, RedactURL(tc.in))
	}
}

func TestReceiverNeverPrintsSecrets(t *testing.T) {
	r := Receiver{Name: "tg", URL: "https://api.telegram.org/bot1:TOKENX/sendMessage", Format: FormatTelegram,
		Secrets: []string{"SECRETSECRETSECRET"}, Headers: map[string]string{"Authorization": "Bearer HDRSECRET"}}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "receiver", r)
	for _, s := range []string{fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s", r, r, r, r), buf.String()} {
		for _, secret := range []string{"TOKENX", "SECRETSECRET", "HDRSECRET"} {
			require.NotContains(t, s, secret)
		}
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.NotContains(t, string(b), "TOKENX")
	require.NotContains(t, string(b), "SECRETSECRET")
}

var retryAfterCases = []struct {
	in   string
	want time.Duration
	ok   bool
}{
	{"120", 120 * time.Second, true},
	{" 0 ", 0, true},
	{"-5", 0, false},
	{"soon", 0, false},
	{"Wed, 21 Oct 2015 07:28:30 GMT", 30 * time.Second, true},
	{"Wed, 21 Oct 2015 07:27:00 GMT", 0, true},
	{"99999999999", 24 * time.Hour, true},
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	for _, tc := range retryAfterCases {
		got, ok := parseRetryAfter(tc.in, now)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	d, ok := telegramRetryAfter([]byte(`{"ok":false,"error_code":429,"parameters":{"retry_after":7}}`))
	require.True(t, ok)
	require.Equal(t, 7*time.Second, d)
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, tc := range retryAfterCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseRetryAfter(s, time.Now()); ok && (d < 0 || d > 24*time.Hour+time.Minute && !strings.Contains(s, ",")) {
			t.Fatalf("parseRetryAfter(%q) = %s", s, d)
		}
		_, _ = telegramRetryAfter([]byte(s))
	})
}
