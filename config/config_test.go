package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const examplePath = "../deploy/citywatch.example.yaml"

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate(): %v", err)
	}
	if !c.BrokerEnabled() {
		t.Error("the broker must default to on without sources")
	}
	if err := c.Complete(); err != nil {
		t.Fatalf("Default().Complete(): %v", err)
	}
	if c.Broker.Enabled == nil || !*c.Broker.Enabled {
		t.Error("Complete did not set broker.enabled")
	}
	if c.Storage.Influx.Queue.Dir != filepath.Join("data", "influx-queue") {
		t.Errorf("queue dir = %q", c.Storage.Influx.Queue.Dir)
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		cfg, err := parse([]byte(in), "c.yaml", testEnv())
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		want := Default()
		want.setDerivedDefaults("testhost")
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("%q: got\n%s\nwant\n%s", in, cfg, want)
		}
	}
}

// TestFullGoodConfig checks values, not just that the file loads: files, ${ENV}, $$, anchors and merge keys,
// and derived defaults.
func TestFullGoodConfig(t *testing.T) {
	c, check := loadFullGood(t)
	check("data_dir", c.DataDir, "/tmp/citywatch-test")
	check("edge.name", c.Edge.Name, "edge $1")
	check("http.tls.cert_file", c.HTTP.TLS.CertFile, "testdata/certs/server.crt")
	check("broker.enabled", c.BrokerEnabled(), true)
	check("max_message_bytes", c.Broker.MaxMessageBytes, ByteSize(1<<20))
	u := c.Broker.Users
	check("users[0].publish", u[0].Publish, []string{"city/+/siteA/{username}/#"})
	check("users[0].PublishFilters", u[0].PublishFilters(), []string{"city/+/siteA/sensor42/#"})
	check("users[1].SubscribeFilters", u[1].SubscribeFilters(), []string{"alerts/sensor43"})
	check("users[1].password_hash", u[1].PasswordHash.Value(), "$2a$10$wFVOI6FLZX2oYjTZBhyzwuKrgLitzjVCnC9zgcN4jG5D3SvvQ1ewy")
	check("users[1].publish", u[1].Publish, []string{})
	check("users[2].password", u[2].Password.Value(), "env-secret-p4ss")
	check("users[2].publish (default)", u[2].Publish, []string{DefaultUserPublish})
	check("users[3].password (file, newline trimmed)", u[3].Password.Value(), "file-password-7f3a")
	check("users[3].password_file", u[3].PasswordFile, "testdata/secrets/mqtt.password")
	s := c.Ingest.Sources
	check("sources[0].client_id", s[0].ClientID, "citywatch-central-testhost")
	check("sources[0].password", s[0].Password.Value(), "file-password-7f3a")
	check("sources[0].reconnect_min", s[0].ReconnectMin, Duration(500*time.Millisecond))
	check("sources[0].subscriptions", s[0].Subscriptions(), []string{"$share/edges/city/#", "$share/edges/sensors/+/+/+"})
	// The second source merges the first and overrides some keys; an overriding mapping replaces, not merges.
	check("sources[1].name", s[1].Name, "backup")
	check("sources[1].topics", s[1].Topics, s[0].Topics)
	check("sources[1].qos", s[1].QoS, 0)
	check("sources[1].password", s[1].Password.Value(), "env-secret-p4ss")
	check("sources[1].password_file", s[1].PasswordFile, "")
	check("sources[1].client_id", s[1].ClientID, "edge-backup")
	check("sources[1].tls", s[1].TLS, ClientTLSConfig{InsecureSkipVerify: true})
	r := c.Ingest.Rules
	check("rules[0].device_labels (default)", r[0].DeviceLabels, []string{"site", "device"})
	check("rules[0].scale", r[0].Scale, map[string]ScaleConfig{"temperature": {Factor: 0.1}, "pressure": {Factor: 1, Offset: -1000}})
	check("rules[0].format", r[0].Format, FormatJSON)
	check("rules[1].labels (alias)", r[1].Labels, map[string]string{"district": "d1", "floor": "2"})
	check("rules[1].device_labels (no metric)", r[1].DeviceLabels, []string{"device"})
	check("rules[2].device_labels", r[2].DeviceLabels, []string{"room", "district"})
	check("tsdb.retention", c.Storage.TSDB.Retention, Duration(7*24*time.Hour))
	check("tsdb.out_of_order_window", c.Storage.TSDB.OutOfOrderWindow, Duration(0))
	in := c.Storage.Influx
	check("influx.token (file, CRLF trimmed)", in.Token.Value(), "file-token-9c1e")
	check("influx.replay_rate", in.ReplayRate, 2500.5)
	check("influx.gzip", in.Gzip, false)
	check("influx.queue.max_bytes", in.Queue.MaxBytes, ByteSize(10e9))
	check("influx.queue.full_policy", in.Queue.FullPolicy, FullPolicyBlock)
}

func TestBrokerEnabledDefault(t *testing.T) {
	cfg, err := parse([]byte("ingest:\n  sources:\n    - {name: a, url: 'tcp://127.0.0.1:1883'}\n"), "c.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BrokerEnabled() || cfg.Broker.Enabled == nil {
		t.Errorf("broker should default to off with sources, got %v", cfg.Broker.Enabled)
	}
	cfg, err = parse([]byte("broker: {enabled: true}\ningest:\n  sources:\n    - {name: a, url: 'tcp://127.0.0.1:1883'}\n"), "c.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.BrokerEnabled() {
		t.Error("explicit enabled: true ignored")
	}
}

func TestExampleLoads(t *testing.T) {
	cfg, err := load(examplePath, testEnv())
	if err != nil {
		t.Fatalf("the example configuration is invalid:\n%v", err)
	}
	if cfg.Ingest.Sources[0].Password.Value() != "example-central-password" {
		t.Error("example: ${ENV} not expanded")
	}
	if got := cfg.Alerts.RuleFiles; len(got) != 1 || got[0] != filepath.Join("..", "deploy", "rules", "citywatch-default.yaml") {
		t.Errorf("example: rule_files = %v, want the default rule pack next to the example", got)
	}
	if r := cfg.Notify.Receivers[0]; len(r.SigningSecrets()) != 1 || r.HTTPHeaders()["Authorization"].Value() != "Bearer example-chat-token" {
		t.Errorf("example: receiver secrets not loaded")
	}
	// Without its environment variables the example must fail naming them, not start with empty secrets.
	_, err = load(examplePath, environment{lookup: func(string) (string, bool) { return "", false }, host: "h", fsys: osFS{}})
	if err == nil || !strings.Contains(err.Error(), `"CITYWATCH_INFLUX_TOKEN" is not set`) {
		t.Errorf("example without env: %v", err)
	}
}

// TestExampleCoversEveryKey fails when a key of Config is missing from the example file, so new keys get
// documented. A secret's *_file alternative may instead appear as a commented-out "# key:" line.
func TestExampleCoversEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	examplePaths(doc.Content[0], reflect.TypeOf(Config{}), "", present)
	alternatives := map[string]bool{}
	all := keyPaths(reflect.TypeOf(Config{}), "", alternatives)
	if len(all) < 60 {
		t.Fatalf("only %d keys found by reflection; the walk is broken", len(all))
	}
	for _, p := range all {
		if present[p] {
			continue
		}
		leaf := p[strings.LastIndex(p, ".")+1:]
		commented := regexp.MustCompile(`(?m)^\s*#\s*` + regexp.QuoteMeta(leaf) + `:`).Match(data)
		if alternatives[p] && commented {
			continue
		}
		t.Errorf("%s: key %s is not in the example configuration", examplePath, p)
	}
}

// keyPaths lists the leaf key paths of a config type: "ingest.sources[].name", "ingest.rules[].labels",
// "ingest.rules[].scale.*.factor". alt collects the *_file alternatives of secrets.
func keyPaths(t reflect.Type, prefix string, alt map[string]bool) []string {
	switch {
	case t.Kind() == reflect.Pointer:
		return keyPaths(t.Elem(), prefix, alt)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return keyPaths(t.Elem(), prefix+"[]", alt)
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		return keyPaths(t.Elem(), prefix+".*", alt)
	case t.Kind() != reflect.Struct:
		return []string{prefix}
	}
	fields, names := structFields(t)
	var out []string
	for _, name := range names {
		f := t.Field(fields[name])
		p := joinPath(prefix, name)
		if strings.HasSuffix(name, "_file") {
			if i, ok := fields[strings.TrimSuffix(name, "_file")]; ok && t.Field(i).Type == secretType {
				alt[p] = true
			}
		}
		out = append(out, keyPaths(f.Type, p, alt)...)
	}
	return out
}

// examplePaths records the key paths present in a YAML node, normalised like keyPaths.
func examplePaths(n *yaml.Node, t reflect.Type, prefix string, present map[string]bool) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case t.Kind() == reflect.Pointer:
		examplePaths(n, t.Elem(), prefix, present)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		for _, item := range n.Content {
			examplePaths(item, t.Elem(), prefix+"[]", present)
		}
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		for i := 1; i < len(n.Content); i += 2 {
			examplePaths(n.Content[i], t.Elem(), prefix+".*", present)
		}
	case t.Kind() == reflect.Struct:
		fields, _ := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if f, ok := fields[n.Content[i].Value]; ok {
				examplePaths(n.Content[i+1], t.Field(f).Type, joinPath(prefix, n.Content[i].Value), present)
			}
		}
	default:
		present[prefix] = true
	}
}

func TestKeyPathsWalk(t *testing.T) {
	alt := map[string]bool{}
	paths := keyPaths(reflect.TypeOf(Config{}), "", alt)
	for _, want := range []string{"data_dir", "broker.enabled", "broker.users[].password_hash_file",
		"ingest.rules[].scale.*.factor", "ingest.rules[].labels", "storage.influx.queue.full_policy"} {
		if !contains(paths, want) {
			t.Errorf("keyPaths misses %s", want)
		}
	}
	for _, want := range []string{"broker.users[].password_file", "broker.users[].password_hash_file",
		"ingest.sources[].password_file", "storage.influx.token_file"} {
		if !alt[want] {
			t.Errorf("%s not recognised as a secret's file alternative", want)
		}
	}
	if alt["http.tls.cert_file"] {
		t.Error("cert_file is not a secret alternative")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRoundTrip: the printed configuration parses back to a Config that prints the same (for a config without
// secrets, which print redacted). Comparing the prints treats a nil and an empty list alike, as YAML does.
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/minimal.good.yaml", "testdata/empty.good.yaml"} {
		cfg, err := load(f, testEnv())
		if err != nil {
			t.Fatal(err)
		}
		again, err := parse([]byte(cfg.String()), "printed.yaml", testEnv())
		if err != nil {
			t.Fatalf("%s: printed config does not parse:\n%v\n%s", f, err, cfg)
		}
		if cfg.String() != again.String() {
			t.Errorf("%s: round trip differs:\n%s\n---\n%s", f, cfg, again)
		}
	}
}

func TestPrintShowsDefaults(t *testing.T) {
	out := Default().String()
	for _, want := range []string{"retention: 15d", "max_message_bytes: 256KiB", "listen: 127.0.0.1:8080",
		"full_policy: drop_oldest", "out_of_order_window: 1h", "max_bytes: 1GiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("String() lacks %q:\n%s", want, out)
		}
	}
}

func TestCompleteReadsSecretFiles(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok-from-file\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Storage.Influx = InfluxConfig{URL: "http://127.0.0.1:8086", Org: "o", Bucket: "b", TokenFile: tokenFile,
		Precision: PrecisionMS, BatchSize: 10, FlushInterval: Duration(time.Second), Timeout: Duration(time.Second),
		Queue: InfluxQueueConfig{MaxBytes: 1 << 20, SegmentBytes: 1 << 10, FullPolicy: FullPolicyBlock}}
	c.Ingest.Sources = []SourceConfig{DefaultSource()}
	c.Ingest.Sources[0].Name = "a"
	c.Ingest.Sources[0].URL = "tcp://127.0.0.1:1883"
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	if c.Storage.Influx.Token.Value() != "tok-from-file" {
		t.Errorf("token = %q", c.Storage.Influx.Token.Value())
	}
	if c.BrokerEnabled() {
		t.Error("broker should be off with a source")
	}
	if !strings.HasPrefix(c.Ingest.Sources[0].ClientID, "citywatch-a-") {
		t.Errorf("client id = %q", c.Ingest.Sources[0].ClientID)
	}
	// Complete is idempotent: a loaded or completed config completes again.
	if err := c.Complete(); err != nil {
		t.Fatalf("second Complete: %v", err)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Log.Level = "loud"
	err := c.Validate()
	if err == nil || err.Error() != `log.level: must be one of debug, info, warn, error; got "loud"` {
		t.Errorf("Validate() = %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestParseUsesProcessEnv covers the exported entry points with the real environment.
func TestParseUsesProcessEnv(t *testing.T) {
	t.Setenv("CITYWATCH_CONFIG_TEST_LEVEL", "warn")
	cfg, err := Parse([]byte("log: {level: '${CITYWATCH_CONFIG_TEST_LEVEL}'}\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "warn" {
		t.Errorf("level = %q", cfg.Log.Level)
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("data_dir: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load(p); err != nil || cfg.DataDir != "x" {
		t.Errorf("Load = %v, %v", cfg, err)
	}
}

// TestAliasBomb: nested aliases expand exponentially; Parse must stop with an error, quickly.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("ingest:\n  rules:\n    - &r0 {topic: 'a/{device}', include: [x, x, x, x, x, x, x, x, x, x]}\n")
	b.WriteString("x0: &l0 [*r0, *r0, *r0, *r0, *r0, *r0, *r0, *r0, *r0, *r0]\n")
	// Only lists of rules hold rules, so the bomb nests through merge keys of rules instead.
	b.WriteString("x1: &m1 {<<: [*r0, *r0, *r0, *r0, *r0, *r0, *r0, *r0, *r0, *r0]}\n")
	for i := 2; i < 9; i++ {
		b.WriteString("x" + itoa(i) + ": &m" + itoa(i) + " {<<: [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*m" + itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	b.WriteString("ingest2: *l0\nstorage: {tsdb: *m8}\n")
	done := make(chan error, 1)
	go func() {
		_, err := parse([]byte(b.String()), "bomb.yaml", testEnv())
		done <- err
	}()
	err := <-done
	var errs *Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), "configuration too large") {
		t.Fatalf("alias bomb: %v", err)
	}
	if len(errs.List) > maxErrors+1 {
		t.Errorf("%d errors reported; want at most %d and a summary", len(errs.List), maxErrors)
	}
	if false {
		t.Errorf("alias bomb: %v", err)
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

// TestDocsCoverEveryKey fails when docs/configuration.md does not mention a key in code formatting.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range keyPaths(reflect.TypeOf(Config{}), "", map[string]bool{}) {
		leaf := p[strings.LastIndex(p, ".")+1:]
		if !regexp.MustCompile("`[^`\n]*\\b" + regexp.QuoteMeta(leaf) + "\\b[^`\n]*`").Match(doc) {
			t.Errorf("docs/configuration.md does not document %s", p)
		}
	}
}
