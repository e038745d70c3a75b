package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFullGoodConfigAlertsNotifyAuth checks the values of the alerts, notify and auth sections of
// full.good.yaml: files relative to the config, secrets from files and ${ENV}, derived defaults.
func TestFullGoodConfigAlertsNotifyAuth(t *testing.T) {
	c, check := loadFullGood(t)
	a := c.Alerts
	check("eval_interval", a.EvalInterval, Duration(5*time.Second))
	check("rule_files (relative to the config)", a.RuleFiles, []string{"testdata/rules/fever.rules.yaml"})
	check("external_url (derived from http.listen 0.0.0.0:8443 with TLS)", a.ExternalURL, "https://testhost:8443")
	check("group_by", a.GroupBy, []string{"alertname"})
	check("group_wait", a.GroupWait, Duration(0))
	check("group_interval", a.GroupInterval, Duration(30*time.Second))
	check("repeat_interval", a.RepeatInterval, Duration(2*time.Hour))
	check("canary", a.Canary, CanaryConfig{Enabled: true, Interval: Duration(2 * time.Minute),
		Timeout: Duration(45 * time.Second), FallbackReceiver: "backup"})
	n := c.Notify
	if len(n.Receivers) != 3 {
		t.Fatalf("%d receivers", len(n.Receivers))
	}
	r := n.Receivers[0]
	check("receivers[0].url", r.URL.Value(), "https://hooks.example.org/services/env-secret-p4ss")
	check("receivers[0].format", r.Format, NotifyFormatSlack)
	check("receivers[0].secret_files", r.SecretFiles, []string{"testdata/secrets/webhook.secret"})
	check("receivers[0].SigningSecrets", r.SigningSecrets(), []Secret{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"env-secret-p4ss-long", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	check("receivers[0].header_files", r.HeaderFiles, map[string]string{"Authorization": "testdata/secrets/webhook.header"})
	check("receivers[0].HTTPHeaders", r.HTTPHeaders(), map[string]Secret{"X-Api-Key": "env-secret-p4ss",
		"Authorization": "Bearer file-header-5d2e"})
	check("receivers[0].timeout", r.Timeout, Duration(3*time.Second))
	check("receivers[0].max_concurrency", r.MaxConcurrency, 1)
	check("receivers[0].content_type (default)", r.ContentType, DefaultReceiverContentType)
	b := n.Receivers[1]
	check("receivers[1].url (file)", b.URL.Value(), "https://hooks.example.org/services/T0/B0/file-url-token")
	check("receivers[1].url_file", b.URLFile, "testdata/secrets/webhook.url")
	check("receivers[1].content_type", b.ContentType, "text/plain; charset=utf-8")
	check("receivers[1].timeout (default)", b.Timeout, Duration(10*time.Second))
	check("receivers[1].max_concurrency (default)", b.MaxConcurrency, 4)
	check("receivers[1].SigningSecrets (none)", b.SigningSecrets(), []Secret{})
	check("receivers[2].allow_private", n.Receivers[2].AllowPrivate, true)
	check("receivers[2].telegram_chat_id", n.Receivers[2].TelegramChatID, "-100123")
	check("routes", n.Routes, []RouteConfig{
		{Receiver: "oncall", Match: map[string]string{"severity": "critical"}, MatchRE: map[string]string{"site": "q-.*"}, Continue: true},
		{Receiver: "lan-pager", MatchRE: map[string]string{"alertname": "Camera.*|Tamper"}},
	})
	check("default_receiver", n.DefaultReceiver, "backup")
	check("mqtt.enabled", n.MQTT.Enabled, false)
	au := c.Auth
	check("session_idle", au.SessionIdle, Duration(15*time.Minute))
	check("session_max", au.SessionMax, Duration(8*time.Hour))
	check("secure_cookies", au.SecureCookies, true)
	check("token_ttl", au.TokenTTL, Duration(30*24*time.Hour))
	check("trusted_proxies", au.TrustedProxies, []string{"10.0.0.0/8", "fd00::/8", "192.0.2.7/32"})
	check("admin_token (file)", au.AdminToken.Value(), "admin-token-from-file-0123456789")

	// Complete re-reads the files without duplicating the list of signing secrets.
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	check("SigningSecrets after Complete", c.Notify.Receivers[0].SigningSecrets(), r.SigningSecrets())
	check("HTTPHeaders after Complete", c.Notify.Receivers[0].HTTPHeaders(), r.HTTPHeaders())
}

func TestAlertsNotifyAuthDefaults(t *testing.T) {
	c := Default()
	a := c.Alerts
	if a.EvalInterval != Duration(time.Second) || !reflect.DeepEqual(a.GroupBy, []string{"alertname", "site"}) ||
		a.GroupWait != Duration(10*time.Second) || a.GroupInterval != Duration(time.Minute) ||
		a.RepeatInterval != Duration(time.Hour) || a.Canary.Enabled || a.Canary.Interval != Duration(time.Minute) ||
		a.Canary.Timeout != Duration(30*time.Second) || len(a.RuleFiles) != 0 {
		t.Errorf("alerts defaults: %+v", a)
	}
	if !c.Notify.MQTT.Enabled || len(c.Notify.Receivers) != 0 || c.Notify.DefaultReceiver != "" {
		t.Errorf("notify defaults: %+v", c.Notify)
	}
	au := c.Auth
	if au.SessionIdle != Duration(30*time.Minute) || au.SessionMax != Duration(12*time.Hour) || au.SecureCookies ||
		au.TokenTTL != Duration(90*24*time.Hour) || len(au.TrustedProxies) != 0 || au.AdminToken != "" {
		t.Errorf("auth defaults: %+v", au)
	}
	r := DefaultReceiver()
	if r.Format != NotifyFormatCitywatch || r.Timeout != Duration(10*time.Second) || r.MaxConcurrency != 4 ||
		r.ContentType != "application/json" || r.AllowPrivate {
		t.Errorf("receiver defaults: %+v", r)
	}
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Alerts.ExternalURL, "http://127.0.0.1:8080") {
		t.Errorf("external_url = %q", c.Alerts.ExternalURL)
	}
}

// externalURLCases are the derived defaults of alerts.external_url, by http.listen and TLS.
var externalURLCases = []struct {
	listen string
	tls    bool
	want   string
}{
	{"127.0.0.1:8080", false, "http://127.0.0.1:8080"},
	{":8080", false, "http://testhost:8080"},
	{"0.0.0.0:80", true, "https://testhost:80"},
	{"[::]:8443", false, "http://testhost:8443"},
	{"[::1]:8443", true, "https://[::1]:8443"},
	{"dash.city.example:443", true, "https://dash.city.example:443"},
	{"127.0.0.1:0", false, ""}, // the port is known once bound: the application fills it in
}

func TestExternalURLDefault(t *testing.T) {
	for _, tc := range externalURLCases {
		in := "http:\n  listen: '" + tc.listen + "'\n"
		if tc.tls {
			in += "  tls: {cert_file: certs/server.crt, key_file: certs/server.key}\n"
		}
		cfg, err := parse([]byte(in), "testdata/c.yaml", testEnv())
		if err != nil {
			t.Errorf("%s: %v", tc.listen, err)
			continue
		}
		if cfg.Alerts.ExternalURL != tc.want {
			t.Errorf("listen %s tls %v: external_url = %q, want %q", tc.listen, tc.tls, cfg.Alerts.ExternalURL, tc.want)
		}
	}
	// An explicit value is kept.
	cfg, err := parse([]byte("alerts: {external_url: 'https://cw.example/base'}\n"), "c.yaml", testEnv())
	if err != nil || cfg.Alerts.ExternalURL != "https://cw.example/base" {
		t.Errorf("explicit external_url: %v, %v", cfg, err)
	}
}

// defaultReceiverCases: notify.default_receiver is derived only when receivers exist without routes.
var defaultReceiverCases = []struct {
	in, want, err string
}{
	{"notify: {receivers: [{name: a, url: 'https://x.example/'}, {name: b, url: 'https://y.example/'}]}", "a", ""},
	{"notify: {receivers: [{name: a, url: 'https://x.example/'}, {name: b, url: 'https://y.example/'}], default_receiver: b}", "b", ""},
	{"notify: {receivers: [{name: a, url: 'https://x.example/'}], routes: [{receiver: a}]}", "",
		"c.yaml:1: notify.default_receiver: is required when routes are set, so that alerts no route matches are still notified"},
	{"notify: {}", "", ""},
}

func TestDefaultReceiver(t *testing.T) {
	for _, tc := range defaultReceiverCases {
		cfg, err := parse([]byte(tc.in+"\n"), "c.yaml", testEnv())
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %s", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case cfg.Notify.DefaultReceiver != tc.want:
			t.Errorf("%s: default_receiver = %q, want %q", tc.in, cfg.Notify.DefaultReceiver, tc.want)
		}
	}
}

// webhookURLCases are receiver URLs and the message checkWebhookURL gives ("" = valid).
var webhookURLCases = []struct {
	url          string
	allowPrivate bool
	want         string
}{
	{"https://hooks.slack.com/services/T/B/x", false, ""},
	{"http://8.8.8.8:8080/x", false, ""},
	{"ftp://files.example/", false, `scheme must be http or https; got "ftp"`},
	{"https:///nohost", false, "must name a host"},
	{"https://u:p@x.example/", true, "must not contain credentials; use headers (e.g. Authorization) instead"},
	{"http://x.example:99999/", false, "port must be 1-65535"},
	{"http://localhost:9000/", false, `host "localhost" is a loopback address; set allow_private: true to deliver to internal addresses`},
	{"http://localhost:9000/", true, ""},
	{"http://10.1.2.3/", false, "host 10.1.2.3 is a private address; set allow_private: true to deliver to internal addresses"},
	{"http://[::ffff:192.168.0.1]/", false, "host ::ffff:192.168.0.1 is a private address; set allow_private: true to deliver to internal addresses"},
	{"http://[64:ff9b::7f00:1]/", false, "host 64:ff9b::7f00:1 is a loopback (embedded in IPv6) address; set allow_private: true to deliver to internal addresses"},
	{"http://169.254.169.254/latest/meta-data", false, "host 169.254.169.254 is a link-local address; set allow_private: true to deliver to internal addresses"},
	{"http://[fe80::1%25eth0]/", false, "host fe80::1%eth0 is a link-local address; set allow_private: true to deliver to internal addresses"},
	{"http://x.example/%zz", false, "is not a valid URL"},
}

func TestCheckWebhookURL(t *testing.T) {
	for _, tc := range webhookURLCases {
		if got := checkWebhookURL(tc.url, tc.allowPrivate); got != tc.want {
			t.Errorf("checkWebhookURL(%q, %v) = %q, want %q", tc.url, tc.allowPrivate, got, tc.want)
		}
	}
}

// TestTemplateErrorWithoutFile: Validate of a Config built in code still says where in the template.
func TestTemplateErrorWithoutFile(t *testing.T) {
	c := Default()
	r := DefaultReceiver()
	r.Name, r.URL, r.Format, r.Template = "t", "https://x.example/", NotifyFormatTemplate, "ok\n{{ .A | nosuch }}"
	c.Notify.Receivers = []ReceiverConfig{r}
	err := c.Validate()
	want := `notify.receivers[0].template: invalid template (template line 2): function "nosuch" not defined`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
}

// TestRelativeFileLists: *_files keys and rule_files resolve against the configuration file's directory;
// absolute paths stay.
func TestRelativeFileLists(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"r1.yaml", "r2.yaml", "s1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("0123456789abcdef-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs := filepath.Join(dir, "r2.yaml")
	in := "alerts: {rule_files: [r1.yaml, '" + abs + "']}\n" +
		"notify: {receivers: [{name: a, url: 'https://x.example/', secret_files: [s1], header_files: {X-K: s1}}]}\n"
	cfg, err := parse([]byte(in), filepath.Join(dir, "c.yaml"), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Alerts.RuleFiles; !reflect.DeepEqual(got, []string{filepath.Join(dir, "r1.yaml"), abs}) {
		t.Errorf("rule_files = %v", got)
	}
	r := cfg.Notify.Receivers[0]
	if r.SecretFiles[0] != filepath.Join(dir, "s1") || r.HeaderFiles["X-K"] != filepath.Join(dir, "s1") {
		t.Errorf("files not resolved: %v %v", r.SecretFiles, r.HeaderFiles)
	}
	if got := r.SigningSecrets(); len(got) != 1 || got[0].Value() != "0123456789abcdef-secret" {
		t.Errorf("SigningSecrets = %d secrets", len(got))
	}
}
