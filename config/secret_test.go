package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Secret markers: each appears only as a secret value, so finding one anywhere in output is a leak.
const (
	markInline   = "inl1ne-SECRET-a1"
	markEnv      = "env-SECRET-b2"
	markFile     = "file-SECRET-c3"
	markToken    = "token-SECRET-d4"
	markHashFile = "$2a$10$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ewy"
	markHashHead = "wFVOI6FLZX2oYjTZ" // part of the bcrypt hash
	// Notification and auth secrets: webhook URL tokens, signing secrets, header values, the admin token.
	markURL       = "url-SECRET-e5"
	markSigning   = "signing-SECRET-f6-0123456789"
	markSignFile  = "signfile-SECRET-g7-0123456789"
	markHeader    = "header-SECRET-h8"
	markHeadFile  = "headfile-SECRET-i9"
	markURLFile   = "urlfile-SECRET-j0"
	markAdmin     = "admin-SECRET-k1-0123456789"
	markAdminFile = "adminfile-SECRET-l2-0123456789"
)

var secretMarks = []string{markInline, markEnv, markFile, markToken, markHashHead, markURL, markSigning,
	markSignFile, markHeader, markHeadFile, markURLFile, markAdmin, markAdminFile}

func secretEnv(t *testing.T) (environment, string) {
	dir := t.TempDir()
	for name, content := range map[string]string{"pw": markFile + "\n", "hash": markHashFile + "\n",
		"sign": markSignFile + "\n", "head": markHeadFile + "\n", "url": "https://hooks.example/" + markURLFile + "\n",
		"admin": markAdminFile + "\n", "short": "s-" + markHeadFile[:5] + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"SECRET_ENV": markEnv, "SECRET_TOKEN": markToken, "SECRET_ADMIN": markAdmin}
	return environment{
		lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		host:   "testhost",
		fsys:   osFS{},
	}, dir
}

const secretConfig = `
broker:
  users:
    - {username: a, password: ` + markInline + `}
    - {username: b, password: "${SECRET_ENV}"}
    - {username: c, password_file: pw}
    - {username: d, password_hash_file: hash}
ingest:
  sources:
    - {name: s, url: "tcp://127.0.0.1:1883", username: u, password: "${SECRET_ENV}"}
    - {name: t, url: "tcp://127.0.0.1:1884", username: u, password_file: pw}
storage:
  influx: {url: "http://127.0.0.1:8086", org: o, bucket: b, token: "${SECRET_TOKEN}"}
notify:
  receivers:
    - name: inline
      url: "https://hooks.example/` + markURL + `"
      secrets: [` + markSigning + `]
      secret_files: [sign]
      headers: {Authorization: "Bearer ` + markHeader + `"}
      header_files: {X-Key: head}
    - {name: fromfile, url_file: url}
auth:
  admin_token_file: admin
`

// secretConfigEnvAdmin sets the admin token through ${ENV}.
const secretConfigEnvAdmin = "auth: {admin_token: '${SECRET_ADMIN}'}\n"

func assertNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, m := range secretMarks {
		if strings.Contains(out, m) {
			t.Errorf("%s leaks secret %q:\n%s", what, m, out)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	env, dir := secretEnv(t)
	cfg, err := parse([]byte(secretConfig), filepath.Join(dir, "c.yaml"), env)
	if err != nil {
		t.Fatal(err)
	}
	// The secrets are there to be used...
	if cfg.Broker.Users[0].Password.Value() != markInline || cfg.Broker.Users[1].Password.Value() != markEnv ||
		cfg.Broker.Users[2].Password.Value() != markFile || cfg.Broker.Users[3].PasswordHash.Value() != markHashFile ||
		cfg.Storage.Influx.Token.Value() != markToken || cfg.Ingest.Sources[1].Password.Value() != markFile {
		t.Fatalf("secrets not loaded: %#v", cfg)
	}
	r := cfg.Notify.Receivers
	if r[0].URL.Value() != "https://hooks.example/"+markURL || r[1].URL.Value() != "https://hooks.example/"+markURLFile ||
		!reflect.DeepEqual(r[0].SigningSecrets(), []Secret{markSigning, markSignFile}) ||
		!reflect.DeepEqual(r[0].HTTPHeaders(), map[string]Secret{"Authorization": "Bearer " + markHeader, "X-Key": markHeadFile}) ||
		cfg.Auth.AdminToken.Value() != markAdminFile {
		t.Fatalf("notify/auth secrets not loaded: %#v %#v", r, cfg.Auth)
	}
	admin, err := parse([]byte(secretConfigEnvAdmin), filepath.Join(dir, "c.yaml"), env)
	if err != nil || admin.Auth.AdminToken.Value() != markAdmin {
		t.Fatalf("admin token from env: %v", err)
	}
	// ...and never shown.
	outputs := map[string]string{
		"String":  cfg.String(),
		"%v":      fmt.Sprintf("%v", cfg),
		"%+v":     fmt.Sprintf("%+v", *cfg),
		"%#v":     fmt.Sprintf("%#v", *cfg),
		"%s":      fmt.Sprintf("%s", cfg.Ingest.Sources[0].Password),
		"%q":      fmt.Sprintf("%q", cfg.Storage.Influx.Token),
		"%x":      fmt.Sprintf("%x", cfg.Storage.Influx.Token),
		"%d":      fmt.Sprintf("%d", cfg.Storage.Influx.Token),
		"Println": fmt.Sprintln(cfg.Broker.Users, cfg.Storage.Influx),
		"notify":  fmt.Sprintf("%v %+v %#v", cfg.Notify, cfg.Notify, cfg.Notify),
		"auth":    fmt.Sprintf("%v %+v %#v %s", cfg.Auth, cfg.Auth, cfg.Auth, admin),
		"methods": fmt.Sprint(r[0].SigningSecrets(), r[0].HTTPHeaders()),
	}
	if b, err := json.Marshal(cfg); err != nil {
		t.Fatal(err)
	} else {
		outputs["json"] = string(b)
	}
	if b, err := yaml.Marshal(cfg); err != nil {
		t.Fatal(err)
	} else {
		outputs["yaml"] = string(b)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "token", cfg.Storage.Influx.Token, "users", cfg.Broker.Users)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "token", cfg.Storage.Influx.Token, "influx", cfg.Storage.Influx)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "notify", cfg.Notify, "auth", cfg.Auth,
		"headers", r[0].HTTPHeaders(), "secrets", r[0].SigningSecrets())
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "receiver", r[0], "admin", cfg.Auth.AdminToken)
	outputs["slog"] = logs.String()
	for what, out := range outputs {
		assertNoSecret(t, what, out)
	}
	for _, want := range []string{"password: <redacted>", "url: <redacted>", "admin_token: <redacted>",
		"Authorization: <redacted>", "- <redacted>"} {
		if !strings.Contains(outputs["String"], want) {
			t.Errorf("String() lacks %q", want)
		}
	}
	if !strings.Contains(outputs["String"], "password: <redacted>") || !strings.Contains(outputs["json"], `redacted`) {
		t.Errorf("secrets should print as <redacted>:\n%s", outputs["String"])
	}
}

// badSecretConfigs put secrets into configurations with errors, including errors about the secrets themselves.
var badSecretConfigs = []string{
	// not a bcrypt hash
	"broker:\n  users:\n    - {username: a, password_hash: '" + markInline + "'}\n",
	"broker:\n  users:\n    - {username: a, password_hash: '${SECRET_ENV}'}\n",
	"broker:\n  users:\n    - {username: a, password_hash_file: pw}\n",
	// both inline and file, and two kinds of credentials
	"broker:\n  users:\n    - {username: a, password: " + markInline + ", password_file: pw}\n",
	"broker:\n  users:\n    - {username: a, password: " + markInline + ", password_hash_file: hash}\n",
	// malformed ${ in a secret
	"broker:\n  users:\n    - {username: a, password: '" + markInline + "${" + markEnv + "'}\n",
	"broker:\n  users:\n    - {username: a, password: '${" + markInline + "}'}\n",
	// a list or mapping where a secret is expected
	"ingest:\n  sources:\n    - {name: s, url: 'tcp://h:1', password: [" + markInline + "]}\n",
	"storage:\n  influx: {token: {a: " + markToken + "}}\n",
	// password without username, credentials in URLs
	"ingest:\n  sources:\n    - {name: s, url: 'tcp://h:1', password: " + markInline + "}\n",
	"ingest:\n  sources:\n    - {name: s, url: 'tcp://u:" + markInline + "@h:1'}\n",
	"ingest:\n  sources:\n    - {name: s, url: 'ftp://u:" + markInline + "@h:1'}\n",
	"ingest:\n  sources:\n    - {name: s, url: 'tcp://u:" + markInline + "@h:1 x'}\n",
	"storage:\n  influx: {url: 'http://u:" + markToken + "@h:8086', org: o, bucket: b}\n",
	"storage:\n  influx: {url: 'http://u:" + markToken + "@h:8086 x', org: o, bucket: b}\n",
	// token without url, token with other errors
	"storage:\n  influx: {token: " + markToken + "}\n",
	"storage:\n  influx: {token: " + markToken + ", token_file: pw, url: 'x'}\n",
	// syntax errors around a secret
	"storage:\n  influx: {token: " + markToken + "\n",
	"storage:\n  influx:\n    token: '" + markToken + "\n",
	"storage:\n  influx:\n\ttoken: " + markToken + "\n",
	// webhook URLs: every kind of URL error; the path and query carry tokens
	"notify:\n  receivers:\n    - {name: a, url: 'ftp://hooks.example/" + markURL + "'}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://u:" + markURL + "@hooks.example/'}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://hooks.example/" + markURL + "%zz'}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'http://127.0.0.1/" + markURL + "?t=" + markURL + "'}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://hooks.example:99999/" + markURL + "'}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https:///" + markURL + "'}\n",
	"notify:\n  receivers:\n    - {name: a, url: '" + markURL + "', url_file: url}\n",
	"notify:\n  receivers:\n    - {name: a, url: [" + markURL + "]}\n",
	"notify:\n  receivers:\n    - {name: 'Bad " + markURL[:3] + "', url: 'https://h.example/" + markURL + "', format: nope}\n",
	// signing secrets: too short, bad base64, wrong type, short file
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', secrets: [" + markHeader[:10] + "]}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', secrets: ['whsec_" + markSigning + "']}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', secrets: ['whsec_c2hvcnQ=', {" + markSigning + ": 1}]}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', secrets: ['${" + markSigning + "']}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', secret_files: [short, nofile]}\n",
	// header values: CR/LF, empty, reserved or invalid names, both inline and file, wrong types
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', headers: {X-A: \"" + markHeader + "\\r\\nX-B: 1\"}}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', headers: {Host: " + markHeader + ", 'B@d': " + markHeader + "}}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', headers: {X-A: " + markHeader + "}, header_files: {x-a: head}}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', headers: {X-A: [" + markHeader + "]}}\n",
	"notify:\n  receivers:\n    - {name: a, url: 'https://h.example/', headers: [" + markHeader + "]}\n",
	// admin token: too short, spaces, both inline and file, wrong type, bad ${
	"auth: {admin_token: " + markAdmin[:12] + "}\n",
	"auth: {admin_token: '" + markAdmin + " x'}\n",
	"auth: {admin_token: \"" + markAdmin + "\\n\"}\n",
	"auth: {admin_token: " + markAdmin + ", admin_token_file: admin}\n",
	"auth: {admin_token: [" + markAdmin + "]}\n",
	"auth: {admin_token: '${" + markAdmin + "}'}\n",
	"auth: {admin_token: " + markAdmin + "\n",
}

func TestSecretsNeverInErrors(t *testing.T) {
	env, dir := secretEnv(t)
	for _, in := range badSecretConfigs {
		cfg, err := parse([]byte(in), filepath.Join(dir, "c.yaml"), env)
		if err == nil {
			t.Errorf("no error for:\n%s\nconfig:\n%s", in, cfg)
			continue
		}
		assertNoSecret(t, "error", err.Error())
		assertNoSecret(t, "error %+v", fmt.Sprintf("%+v %#v", err, err))
	}
}

func TestSecretType(t *testing.T) {
	var empty Secret
	if empty.String() != "" || fmt.Sprint(empty) != "" {
		t.Errorf("an empty secret prints %q", empty.String())
	}
	s := Secret("x")
	for _, got := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%+v|%s", s, s)} {
		if strings.Contains(strings.ReplaceAll(got, redacted, ""), "x") {
			t.Errorf("secret printed as %q", got)
		}
	}
	var back Secret
	if err := yaml.Unmarshal([]byte("k"), &back); err != nil || back.Value() != "k" {
		t.Errorf("UnmarshalYAML: %q, %v", back, err)
	}
}
