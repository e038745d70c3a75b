package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"citywatch/internal/testenv"
)

// serveSetup is what an end-to-end test starts `citywatch serve` with: citywatch.yaml in a temporary
// directory, the data under its data/, the HTTP API and (unless asCollector) the embedded MQTT broker with
// anonymous clients on free ports. Options add the rest of the file, so each test states only what it is about.
type serveSetup struct {
	dir      string // holds citywatch.yaml, rules.yaml (withRules) and data/
	dataDir  string
	config   string // the path of citywatch.yaml
	httpAddr string
	mqttAddr string // empty asCollector
}

// serveOption adds to the configuration newServe writes.
type serveOption func(*serveYAML)

// serveYAML is the configuration file being built.
type serveYAML struct {
	noBroker bool
	http     []string // further keys of the http section
	broker   []string // further keys of the broker section
	alerts   []string // further keys of the alerts section; nil: no alerts section
	rules    string   // the content of rules.yaml; "": not written
	more     []string // further top-level YAML
}

// withHTTP adds keys to the http section, one "key: value" a line (indent nested keys).
func withHTTP(lines ...string) serveOption {
	return func(y *serveYAML) { y.http = append(y.http, lines...) }
}

// withBroker adds keys to the broker section, one "key: value" a line.
func withBroker(lines ...string) serveOption {
	return func(y *serveYAML) { y.broker = append(y.broker, lines...) }
}

// asCollector leaves the embedded broker out and subscribes to city/# at QoS 1 on the broker at url as the
// ingest source name with client id clientID, with further keys of that source, one "key: value" a line.
func asCollector(name, url, clientID string, more ...string) serveOption {
	return func(y *serveYAML) {
		y.noBroker = true
		var b strings.Builder
		b.WriteString("ingest:\n  sources:\n    - name: " + name + "\n      url: " + url + "\n      client_id: " + clientID +
			"\n      topics: [\"city/#\"]\n      qos: 1\n")
		for _, l := range more {
			b.WriteString("      " + l + "\n")
		}
		y.more = append(y.more, b.String())
	}
}

// withAlerts evaluates the rules of rules.yaml every second, with further keys of the alerts section, one
// "key: value" a line.
func withAlerts(lines ...string) serveOption {
	return func(y *serveYAML) { y.alerts = append(append([]string{}, y.alerts...), lines...) }
}

// withRules writes rules.yaml beside citywatch.yaml; withAlerts loads it.
func withRules(yaml string) serveOption {
	return func(y *serveYAML) { y.rules = yaml }
}

// withYAML adds top-level sections to the configuration.
func withYAML(yaml string) serveOption {
	return func(y *serveYAML) { y.more = append(y.more, yaml) }
}

// newServe picks the free ports and writes the configuration.
func newServe(t *testing.T, opts ...serveOption) *serveSetup {
	t.Helper()
	dir := t.TempDir()
	s := &serveSetup{dir: dir, dataDir: filepath.Join(dir, "data"), httpAddr: testenv.FreePort(t)}
	var y serveYAML
	for _, o := range opts {
		o(&y)
	}
	if !y.noBroker {
		s.mqttAddr = testenv.FreePort(t)
	}
	s.write(t, opts...)
	return s
}

// write (re)writes citywatch.yaml with the setup's directory and ports and opts, as newServe does; a running
// citywatch reads it on SIGHUP.
func (s *serveSetup) write(t *testing.T, opts ...serveOption) {
	t.Helper()
	var y serveYAML
	for _, o := range opts {
		o(&y)
	}
	var b strings.Builder
	b.WriteString("data_dir: " + s.dataDir + "\nhttp:\n  listen: " + s.httpAddr + "\n")
	writeIndented(&b, y.http)
	if !y.noBroker {
		b.WriteString("broker:\n  listen: " + s.mqttAddr + "\n  allow_anonymous: true\n")
		writeIndented(&b, y.broker)
	}
	if y.alerts != nil {
		b.WriteString("alerts:\n  eval_interval: 1s\n  rule_files: [rules.yaml]\n")
		writeIndented(&b, y.alerts)
	}
	for _, m := range y.more {
		b.WriteString(m)
	}
	if y.rules != "" {
		if err := os.WriteFile(filepath.Join(s.dir, "rules.yaml"), []byte(y.rules), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.config = writeConfig(t, s.dir, b.String())
}

func writeIndented(b *strings.Builder, lines []string) {
	for _, l := range lines {
		b.WriteString("  " + l + "\n")
	}
}

// base is the URL of the HTTP API.
func (s *serveSetup) base() string { return "http://" + s.httpAddr }

// broker is the URL of the embedded MQTT broker.
func (s *serveSetup) broker() string { return "tcp://" + s.mqttAddr }

// start starts `citywatch serve` with the configuration and waits until it is ready.
func (s *serveSetup) start(t *testing.T) *proc {
	t.Helper()
	p := start(t, "serve", "--config", s.config)
	waitReady(t, p, s.base())
	return p
}

// feverRules is a rule file with the Fever rule (body_temperature above 38 °C, severity critical) and further
// keys of that rule, indented by eight spaces.
func feverRules(more string) string {
	return `groups:
  - name: e2e
    rules:
      - alert: Fever
        expr: body_temperature > 38.0
        labels:
          severity: critical
` + more
}
