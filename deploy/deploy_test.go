// Package deploy_test checks the deployment files in deploy/: that every file they reference exists, that
// the ports they publish are the ports the mounted configurations listen on, that the citywatch
// configurations they ship load, and that the service definitions start citywatch the way the CLI contract
// says (`citywatch serve --config FILE`).
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"citywatch/config"
)

const (
	// configPath is where every deployment mounts citywatch's configuration.
	configPath = "/etc/citywatch/citywatch.yaml"
	// dataDir is the state directory of every deployment.
	dataDir = "/var/lib/citywatch"
)

// repoRoot is the repository root; go test runs in deploy/.
const repoRoot = ".."

// readYAMLDocs decodes every document of a (multi-document) YAML file into generic maps.
func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// get walks a path of map keys and list indexes in decoded YAML.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func mustExist(t *testing.T, what, path string, wantDir bool) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if fi.IsDir() != wantDir {
		t.Errorf("%s: %s is a directory=%v, want %v", what, path, fi.IsDir(), wantDir)
	}
}

// listeners are the TCP ports a citywatch configuration listens on, by name.
type listeners map[string]string // name -> host:port

// citywatchListeners reads the listen addresses from a citywatch configuration, applying the defaults the
// config package documents (http 127.0.0.1:8080; broker enabled when there are no ingest sources, on
// 127.0.0.1:1883).
func citywatchListeners(t *testing.T, name string, data []byte) listeners {
	t.Helper()
	var c struct {
		HTTP struct {
			Listen *string `yaml:"listen"`
		} `yaml:"http"`
		Broker struct {
			Enabled         *bool   `yaml:"enabled"`
			Listen          *string `yaml:"listen"`
			WebsocketListen string  `yaml:"websocket_listen"`
			TLS             struct {
				Listen string `yaml:"listen"`
			} `yaml:"tls"`
		} `yaml:"broker"`
		Ingest struct {
			Sources []any `yaml:"sources"`
		} `yaml:"ingest"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	l := listeners{"http": "127.0.0.1:8080"}
	if c.HTTP.Listen != nil {
		l["http"] = *c.HTTP.Listen
	}
	enabled := len(c.Ingest.Sources) == 0
	if c.Broker.Enabled != nil {
		enabled = *c.Broker.Enabled
	}
	if enabled {
		l["mqtt"] = "127.0.0.1:1883"
		if c.Broker.Listen != nil {
			l["mqtt"] = *c.Broker.Listen
		}
		l["mqtt-ws"] = c.Broker.WebsocketListen
		l["mqtt-tls"] = c.Broker.TLS.Listen
	}
	for k, v := range l {
		if v == "" {
			delete(l, k)
		}
	}
	return l
}

// ports returns the listening ports, and fails the test for a listener bound to loopback only: in a
// container or pod that is unreachable through a published port.
func (l listeners) ports(t *testing.T, where string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, addr := range l {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s: %s listen address %q: %v", where, name, addr, err)
			continue
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			t.Errorf("%s: %s listens on %q, unreachable from outside the container; use 0.0.0.0", where, name, addr)
		}
		out[port] = name
	}
	return out
}

// mosquittoPorts reads the listener ports of a mosquitto.conf.
func mosquittoPorts(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && (fields[0] == "listener" || fields[0] == "port") {
			out[fields[1]] = fields[0]
		}
	}
	if len(out) == 0 {
		t.Errorf("%s: no listener", path)
	}
	return out
}

// envRefs lists the ${NAME} references of a citywatch configuration.
var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func envRefs(data []byte) []string {
	var names []string
	for _, m := range envRefRE.FindAllSubmatch(data, -1) {
		if n := string(m[1]); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// parseCitywatchConfig loads a configuration with the real config package, with env as the environment.
func parseCitywatchConfig(t *testing.T, name string, data []byte, env map[string]string) *config.Config {
	t.Helper()
	for _, n := range envRefs(data) {
		v, ok := env[n]
		if !ok {
			t.Errorf("%s: ${%s} is not set by the deployment", name, n)
			continue
		}
		t.Setenv(n, v)
	}
	cfg, err := config.Parse(data, name)
	if err != nil {
		t.Errorf("%s does not load with variables %v set:\n%v", name, keysOf(env), err)
		return nil
	}
	if cfg.DataDir != dataDir {
		t.Errorf("%s: data_dir = %q, want %q (the volume)", name, cfg.DataDir, dataDir)
	}
	return cfg
}

// readEnvFile reads KEY=VALUE lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		env[k] = v
	}
	return env
}

// composeVarRE matches compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}.
var composeVarRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate resolves compose variables from dotenv the way docker compose does.
func interpolate(t *testing.T, where, s string, dotenv map[string]string) string {
	return composeVarRE.ReplaceAllStringFunc(s, func(m string) string {
		g := composeVarRE.FindStringSubmatch(m)
		v, set := dotenv[g[1]]
		switch g[2] {
		case ":-":
			if v == "" {
				return g[3]
			}
		case "-":
			if !set {
				return g[3]
			}
		case ":?", "?":
			if !set || (g[2] == ":?" && v == "") {
				t.Errorf("%s: required variable %s is not in env.example", where, g[1])
			}
		}
		return v
	})
}

// containerPort extracts the container side of a compose port mapping.
func containerPort(t *testing.T, where string, p any) string {
	t.Helper()
	if m, ok := p.(map[string]any); ok {
		return str(m["target"])
	}
	s := strings.TrimSuffix(strings.TrimSuffix(str(p), "/tcp"), "/udp")
	parts := strings.Split(s, ":")
	port := parts[len(parts)-1]
	if _, err := strconv.Atoi(port); err != nil {
		t.Errorf("%s: cannot read port mapping %q", where, str(p))
	}
	return port
}

// TestCompose checks every docker compose file in deploy/compose.
func TestCompose(t *testing.T) {
	dir := filepath.Join("compose")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dotenv := readEnvFile(t, filepath.Join(dir, "env.example"))
	var composeFiles []string
	for _, f := range files {
		docs := readYAMLDocs(t, f)
		if len(docs) == 1 && docs[0]["services"] != nil {
			composeFiles = append(composeFiles, f)
		}
	}
	if want := []string{"compose/centre.yaml", "compose/site.yaml"}; !slices.Equal(composeFiles, want) {
		t.Fatalf("compose files %v, want %v", composeFiles, want)
	}
	for _, f := range composeFiles {
		t.Run(filepath.Base(f), func(t *testing.T) { checkCompose(t, f, dotenv) })
	}
}

func checkCompose(t *testing.T, file string, dotenv map[string]string) {
	base := filepath.Dir(file)
	doc := readYAMLDocs(t, file)[0]
	services, _ := doc["services"].(map[string]any)
	namedVolumes, _ := doc["volumes"].(map[string]any)
	citywatchServices := 0
	for name, svc := range services {
		where := file + ": services." + name
		for _, dep := range dependsOn(svc) {
			if _, ok := services[dep]; !ok {
				t.Errorf("%s: depends on unknown service %q", where, dep)
			}
		}
		if b := get(svc, "build"); b != nil {
			ctx := filepath.Join(base, str(get(b, "context")))
			mustExist(t, where+".build.context", ctx, true)
			mustExist(t, where+".build.dockerfile", filepath.Join(ctx, str(get(b, "dockerfile"))), false)
		}
		mounts := map[string]string{} // container path -> host path
		for _, v := range list(get(svc, "volumes")) {
			src, dst := volumeSpec(v)
			switch {
			case strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/"):
				host := filepath.Join(base, src)
				fi, err := os.Stat(host)
				if err != nil {
					t.Errorf("%s: mounts %s, which does not exist: %v", where, src, err)
					continue
				}
				if !fi.IsDir() {
					mounts[dst] = host
				}
			case src != "":
				if _, ok := namedVolumes[src]; !ok {
					t.Errorf("%s: volume %q is not declared under volumes:", where, src)
				}
			}
		}
		env := map[string]string{}
		for k, v := range envMap(get(svc, "environment")) {
			env[k] = interpolate(t, where+".environment."+k, v, dotenv)
		}
		var published []string
		for _, p := range list(get(svc, "ports")) {
			published = append(published, containerPort(t, where, p))
		}

		var listening map[string]string
		switch {
		case mounts[configPath] != "" || str(get(svc, "image")) == "citywatch:latest":
			citywatchServices++
			cfgFile := mounts[configPath]
			if cfgFile == "" {
				t.Errorf("%s: citywatch without a configuration mounted at %s", where, configPath)
				continue
			}
			data, err := os.ReadFile(cfgFile)
			if err != nil {
				t.Fatal(err)
			}
			l := citywatchListeners(t, cfgFile, data)
			listening = l.ports(t, cfgFile)
			if _, port, _ := net.SplitHostPort(l["http"]); !slices.Contains(published, port) {
				t.Errorf("%s: the HTTP port %s of %s is not published", where, port, cfgFile)
			}
			if !hasMount(get(svc, "volumes"), dataDir) {
				t.Errorf("%s: no volume at %s: the TSDB would be lost with the container", where, dataDir)
			}
			parseCitywatchConfig(t, cfgFile, data, env)
			if env["CITYWATCH_INFLUX_URL"] != "" && strings.Contains(file, "site") {
				// The edge must also start with forwarding off (the default when .env leaves it out).
				off := map[string]string{}
				for k, v := range env {
					off[k] = v
				}
				for _, k := range []string{"CITYWATCH_INFLUX_URL", "CITYWATCH_INFLUX_ORG", "CITYWATCH_INFLUX_BUCKET", "CITYWATCH_INFLUX_TOKEN"} {
					off[k] = ""
				}
				parseCitywatchConfig(t, cfgFile+" (no forwarding)", data, off)
			}
		case mounts["/mosquitto/config/mosquitto.conf"] != "":
			listening = mosquittoPorts(t, mounts["/mosquitto/config/mosquitto.conf"])
		default:
			continue // third-party images with their own defaults (InfluxDB 8086, Grafana 3000)
		}
		for _, p := range published {
			if _, ok := listening[p]; !ok {
				t.Errorf("%s: publishes container port %s but its configuration listens on %v", where, p, keysOf(listening))
			}
		}
	}
	if citywatchServices == 0 {
		t.Errorf("%s: no citywatch service", file)
	}
}

func volumeSpec(v any) (src, dst string) {
	if m, ok := v.(map[string]any); ok {
		return str(m["source"]), str(m["target"])
	}
	parts := strings.Split(str(v), ":")
	if len(parts) == 1 {
		return "", parts[0] // anonymous volume
	}
	return parts[0], parts[1]
}

func hasMount(vols any, target string) bool {
	for _, v := range list(vols) {
		if _, dst := volumeSpec(v); dst == target {
			return true
		}
	}
	return false
}

func dependsOn(svc any) []string {
	switch d := get(svc, "depends_on").(type) {
	case []any:
		var out []string
		for _, x := range d {
			out = append(out, str(x))
		}
		return out
	case map[string]any:
		return keysOf(d)
	}
	return nil
}

func envMap(v any) map[string]string {
	out := map[string]string{}
	switch e := v.(type) {
	case map[string]any:
		for k, x := range e {
			out[k] = str(x)
		}
	case []any:
		for _, x := range e {
			k, val, _ := strings.Cut(str(x), "=")
			out[k] = val
		}
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// k8sObject is one manifest document.
type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return str(o.doc["kind"]) }
func (o k8sObject) name() string { return str(get(o.doc, "metadata", "name")) }

// TestKubernetes checks the manifests in deploy/k8s against each other and against the configuration in the
// ConfigMap.
func TestKubernetes(t *testing.T) {
	dir := "k8s"
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var objs []k8sObject
	var resources []string
	for _, f := range files {
		for _, doc := range readYAMLDocs(t, f) {
			if str(doc["kind"]) == "Kustomization" {
				for _, r := range list(doc["resources"]) {
					resources = append(resources, str(r))
					mustExist(t, f+": resource", filepath.Join(dir, str(r)), false)
				}
				continue
			}
			o := k8sObject{file: f, doc: doc}
			if str(doc["apiVersion"]) == "" || o.kind() == "" || o.name() == "" {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", f)
			}
			objs = append(objs, o)
		}
	}
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(resources, b) {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}
	find := func(kind, name string) *k8sObject {
		for i := range objs {
			if objs[i].kind() == kind && objs[i].name() == name {
				return &objs[i]
			}
		}
		return nil
	}
	for _, kind := range []string{"StatefulSet", "Service", "ConfigMap", "Secret", "ServiceMonitor"} {
		if !slices.ContainsFunc(objs, func(o k8sObject) bool { return o.kind() == kind }) {
			t.Errorf("no %s manifest", kind)
		}
	}
	sts := find("StatefulSet", "citywatch")
	if sts == nil {
		t.Fatal("no StatefulSet citywatch")
	}
	pod := get(sts.doc, "spec", "template", "spec")
	ctr := get(pod, "containers", 0)
	where := sts.file + ": container " + str(get(ctr, "name"))

	// The command line is the CLI contract's.
	args := list(get(ctr, "args"))
	if len(args) != 3 || str(args[0]) != "serve" || str(args[1]) != "--config" || str(args[2]) != configPath {
		t.Errorf("%s: args %v, want [serve --config %s]", where, args, configPath)
	}

	// Container ports by name, and what they must match.
	ctrPorts := map[string]string{} // name -> port
	for _, p := range list(get(ctr, "ports")) {
		ctrPorts[str(get(p, "name"))] = str(get(p, "containerPort"))
	}
	for _, probe := range []struct{ key, path string }{{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}, {"startupProbe", "/healthz"}} {
		hg := get(ctr, probe.key, "httpGet")
		if hg == nil {
			t.Errorf("%s: no %s", where, probe.key)
			continue
		}
		if str(get(hg, "path")) != probe.path {
			t.Errorf("%s: %s path %q, want %q", where, probe.key, str(get(hg, "path")), probe.path)
		}
		if _, ok := ctrPorts[str(get(hg, "port"))]; !ok {
			t.Errorf("%s: %s port %q is not a container port name", where, probe.key, str(get(hg, "port")))
		}
	}

	// Volumes: the config mount comes from the ConfigMap, the data dir from the claim template.
	volumes := map[string]any{}
	for _, v := range list(get(pod, "volumes")) {
		volumes[str(get(v, "name"))] = v
	}
	for _, c := range list(get(sts.doc, "spec", "volumeClaimTemplates")) {
		volumes[str(get(c, "metadata", "name"))] = map[string]any{"pvc": true}
	}
	var cfgData []byte
	var dataMounted bool
	for _, m := range list(get(ctr, "volumeMounts")) {
		name, path := str(get(m, "name")), str(get(m, "mountPath"))
		v, ok := volumes[name]
		if !ok {
			t.Errorf("%s: mounts unknown volume %q", where, name)
			continue
		}
		if path == dataDir {
			dataMounted = get(v, "pvc") == true
		}
		if cmName := str(get(v, "configMap", "name")); cmName != "" {
			cm := find("ConfigMap", cmName)
			if cm == nil {
				t.Errorf("%s: volume %q uses missing ConfigMap %q", where, name, cmName)
				continue
			}
			if filepath.Dir(configPath) == path {
				cfgData = []byte(str(get(cm.doc, "data", filepath.Base(configPath))))
			}
		}
	}
	if !dataMounted {
		t.Errorf("%s: %s is not a volumeClaimTemplate mount", where, dataDir)
	}
	if len(cfgData) == 0 {
		t.Fatalf("%s: no ConfigMap key %s mounted at %s", where, filepath.Base(configPath), filepath.Dir(configPath))
	}

	// The environment, resolved from the Secret manifest, must fill every ${VAR} of the configuration.
	env := map[string]string{}
	for _, e := range list(get(ctr, "env")) {
		name := str(get(e, "name"))
		switch {
		case get(e, "valueFrom", "secretKeyRef") != nil:
			ref := get(e, "valueFrom", "secretKeyRef")
			sec := find("Secret", str(get(ref, "name")))
			if sec == nil {
				t.Errorf("%s: env %s uses missing Secret %q", where, name, str(get(ref, "name")))
				continue
			}
			v, ok := get(sec.doc, "stringData").(map[string]any)[str(get(ref, "key"))]
			if !ok {
				t.Errorf("%s: env %s uses missing key %q of Secret %q", where, name, str(get(ref, "key")), sec.name())
			}
			env[name] = str(v)
		case get(e, "valueFrom", "fieldRef") != nil:
			env[name] = "citywatch-0"
		default:
			env[name] = str(get(e, "value"))
		}
	}
	parseCitywatchConfig(t, sts.file+" (ConfigMap)", cfgData, env)
	listening := citywatchListeners(t, "ConfigMap", cfgData).ports(t, "ConfigMap citywatch.yaml")
	for name, port := range ctrPorts {
		if _, ok := listening[port]; !ok {
			t.Errorf("%s: container port %s (%s) is not a listener of the configuration (%v)", where, name, port, keysOf(listening))
		}
	}
	for port, what := range listening {
		if !slices.Contains(mapValues(ctrPorts), port) {
			t.Errorf("%s: the configuration listens on %s (%s) but the container does not declare it", where, port, what)
		}
	}

	// Services target declared container ports; the ServiceMonitor scrapes a Service port.
	svcPorts := map[string]bool{}
	for _, o := range objs {
		if o.kind() != "Service" {
			continue
		}
		for _, p := range list(get(o.doc, "spec", "ports")) {
			tp := str(get(p, "targetPort"))
			if _, ok := ctrPorts[tp]; !ok && !slices.Contains(mapValues(ctrPorts), tp) {
				t.Errorf("%s: Service %s targets port %q, which the container does not declare", o.file, o.name(), tp)
			}
			svcPorts[str(get(p, "name"))] = true
		}
	}
	for _, o := range objs {
		if o.kind() != "ServiceMonitor" {
			continue
		}
		for _, ep := range list(get(o.doc, "spec", "endpoints")) {
			if !svcPorts[str(get(ep, "port"))] || str(get(ep, "path")) != "/metrics" {
				t.Errorf("%s: endpoint port %q path %q; want a Service port and /metrics", o.file, str(get(ep, "port")), str(get(ep, "path")))
			}
			cred := get(ep, "authorization", "credentials")
			if sec := find("Secret", str(get(cred, "name"))); sec == nil || get(sec.doc, "stringData", str(get(cred, "key"))) == nil {
				t.Errorf("%s: /metrics needs a bearer token from an existing Secret key", o.file)
			}
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestDockerfile checks the image: COPY sources exist, the default configuration loads, and EXPOSE and the
// health check match its listeners.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	var exposed []string
	var cfgSrc, healthcheck, entrypoint, cmd string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "COPY":
			if strings.HasPrefix(f[1], "--from") {
				continue
			}
			dst := f[len(f)-1]
			for _, src := range f[1 : len(f)-1] {
				if src != "." {
					mustExist(t, "Dockerfile COPY", filepath.Join(repoRoot, src), false)
				}
				if dst == configPath {
					cfgSrc = filepath.Join(repoRoot, src)
				}
			}
		case "EXPOSE":
			exposed = append(exposed, f[1:]...)
		case "HEALTHCHECK":
			healthcheck = line
		case "ENTRYPOINT":
			entrypoint = strings.Join(f[1:], " ")
		case "CMD":
			cmd = strings.Join(f[1:], " ")
		}
	}
	if cfgSrc == "" {
		t.Fatalf("Dockerfile copies no configuration to %s", configPath)
	}
	if got := entrypoint + " " + cmd; got != `["/usr/local/bin/citywatch"] ["serve", "--config", "`+configPath+`"]` {
		t.Errorf("Dockerfile starts %s, want citywatch serve --config %s", got, configPath)
	}
	cfgData, err := os.ReadFile(cfgSrc)
	if err != nil {
		t.Fatal(err)
	}
	parseCitywatchConfig(t, cfgSrc, cfgData, nil)
	l := citywatchListeners(t, cfgSrc, cfgData)
	for port, what := range l.ports(t, cfgSrc) {
		if !slices.Contains(exposed, port) {
			t.Errorf("Dockerfile does not EXPOSE %s (%s of %s)", port, what, cfgSrc)
		}
	}
	_, httpPort, _ := net.SplitHostPort(l["http"])
	if !strings.Contains(healthcheck, "127.0.0.1:"+httpPort+"/healthz") {
		t.Errorf("HEALTHCHECK %q does not probe /healthz on the HTTP port %s", healthcheck, httpPort)
	}
	mustExist(t, "Dockerfile.dockerignore", "Dockerfile.dockerignore", false)
}

// requiredUnitSettings are hardening settings the systemd unit must keep.
var requiredUnitSettings = map[string]string{
	"ProtectSystem":          "strict",
	"NoNewPrivileges":        "yes",
	"PrivateTmp":             "yes",
	"CapabilityBoundingSet":  "",
	"StateDirectory":         "citywatch",
	"DynamicUser":            "yes",
	"ProtectHome":            "yes",
	"RestrictSUIDSGID":       "yes",
	"ConfigurationDirectory": "citywatch",
	"WorkingDirectory":       dataDir,
}

// TestSystemdUnit checks the unit starts citywatch exactly as the CLI contract says, reloads with SIGHUP and
// keeps its hardening.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("systemd", "citywatch.service"))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("unit line %q is not key=value", line)
			continue
		}
		settings[k] = append(settings[k], v)
	}
	exec := settings["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("ExecStart given %d times, want once", len(exec))
	}
	f := strings.Fields(exec[0])
	if len(f) != 4 || !filepath.IsAbs(f[0]) || filepath.Base(f[0]) != "citywatch" ||
		f[1] != "serve" || f[2] != "--config" || f[3] != configPath {
		t.Errorf("ExecStart=%s, want /…/citywatch serve --config %s and nothing else", exec[0], configPath)
	}
	if r := settings["ExecReload"]; len(r) != 1 || !strings.Contains(r[0], "-HUP") || !strings.Contains(r[0], "$MAINPID") {
		t.Errorf("ExecReload=%v, want a SIGHUP to $MAINPID", r)
	}
	for k, want := range requiredUnitSettings {
		if v := settings[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s=%v, want %q", k, v, want)
		}
	}
	for _, e := range settings["Environment"] {
		if u := strings.ToUpper(e); strings.Contains(u, "PASSWORD") || strings.Contains(u, "TOKEN") || strings.Contains(u, "SECRET") {
			t.Errorf("Environment=%s puts a secret in the unit (world-readable); use LoadCredential=", e)
		}
	}
}
