package main

// The serve rows measure what users run: the `citywatch serve` binary (metrics, the mapper wrapper, device
// export, fan-out, the device registry and its saves) driven from outside by separate publisher processes,
// with counts read from /metrics, against baselines that are separate processes too (a bare mochi broker with
// a counting subscriber, a bare paho subscriber, Telegraf's mqtt_consumer). Rates are the median of three
// rounds that alternate the order of the contenders; each row prints all three.

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	paho "github.com/eclipse/paho.mqtt.golang"

	"citywatch/internal/testenv"
)

// serveRounds is how many alternating rounds each serve row runs; the median is the figure.
const serveRounds = 3

// publisherArgs are what a publisher child process sends: n messages over one connection, message i to
// device (offset+i) mod devices, with fields numeric fields each.
type publisherArgs struct {
	addr                    string
	n, offset, devices, qos int
	fields                  int
}

// fieldNames are the fields of the bench's sensor messages (the contract's sensor metric names).
var fieldNames = []string{"temperature", "humidity", "co2", "pm25", "battery", "rssi", "noise", "water_level"}

// deviceMessage is message i of a device: fields numeric fields in a JSON object.
func deviceMessage(dev, i, fields int) (string, []byte) {
	topic := "city/d" + strconv.Itoa(dev%10) + "/site" + strconv.Itoa(dev%50) + "/dev" + strconv.Itoa(dev)
	b := make([]byte, 0, 16*fields+2)
	b = append(b, '{')
	for f := range fields {
		if f > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `"%s":%d.%d`, fieldNames[f%len(fieldNames)], 20+(i+f)%50, i%10)
	}
	return topic, append(b, '}')
}

// runPublisherChild is the child side of role "publish".
func runPublisherChild(a publisherArgs) error {
	p, err := dialRaw(a.addr, fmt.Sprintf("bench-pub-%d-%d", os.Getpid(), a.offset), true)
	if err != nil {
		return err
	}
	defer p.close()
	return p.publishAll(a.n, byte(a.qos), 1000, func(i int) (string, []byte) {
		return deviceMessage((a.offset+i)%max(a.devices, 1), i, a.fields)
	})
}

// publishProcs publishes n messages from procs publisher processes (one connection each), spreading the
// devices among them, and returns when every process has finished (QoS 1: every message acknowledged).
func publishProcs(addr string, n, procs, devices, fields int, qos byte) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	per := n / procs
	errs := make(chan error, procs)
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(exe, "-child", "publish", "-child-url", addr, "-child-n", strconv.Itoa(per),
				"-child-offset", strconv.Itoa(p*max(devices/procs, 1)), "-child-devices", strconv.Itoa(devices),
				"-child-qos", strconv.Itoa(int(qos)), "-child-fields", strconv.Itoa(fields))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("publisher %d: %w: %s", p, err, strings.TrimSpace(string(out)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// counterChild is a baseline process (role "mochi" or "paho") that counts what it receives and answers
// GET /count on its HTTP address.
type counterChild struct {
	cmd      *exec.Cmd
	mqttAddr string
	httpAddr string
}

func startCounterChild(role, mqttAddr string, qos byte) (*counterChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &counterChild{mqttAddr: mqttAddr, httpAddr: "127.0.0.1:" + strconv.Itoa(freePort())}
	c.cmd = exec.Command(exe, "-child", role, "-child-url", mqttAddr+","+c.httpAddr, "-child-qos", strconv.Itoa(int(qos)))
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+c.httpAddr+"/count", 30*time.Second); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s baseline: %w", role, err)
	}
	return c, nil
}

func (c *counterChild) count() (int64, error) {
	resp, err := apiClient.Get("http://" + c.httpAddr + "/count")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func (c *counterChild) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// runCounterChild is the child side of roles "mochi" (a bare mochi broker on the MQTT address with an inline
// subscriber that counts) and "paho" (a bare paho client subscribed to the broker at the MQTT address). It
// serves the count until it is killed.
func runCounterChild(role, addrs string, qos byte) error {
	mqttAddr, httpAddr, ok := strings.Cut(addrs, ",")
	if !ok {
		return fmt.Errorf("want mqtt,http addresses, got %q", addrs)
	}
	var count atomic.Int64
	switch role {
	case "mochi":
		srv := mochi.New(&mochi.Options{InlineClient: true, Logger: quiet})
		if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
			return err
		}
		if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: mqttAddr})); err != nil {
			return err
		}
		if err := srv.Serve(); err != nil {
			return err
		}
		if err := srv.Subscribe("city/#", 1, func(*mochi.Client, packets.Subscription, packets.Packet) { count.Add(1) }); err != nil {
			return err
		}
	case "paho":
		opts := paho.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("bench-paho-baseline").
			SetCleanSession(false).SetOrderMatters(false)
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return fmt.Errorf("paho connect: %v", tok.Error())
		}
		if tok := c.Subscribe("city/#", qos, func(paho.Client, paho.Message) { count.Add(1) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return fmt.Errorf("paho subscribe: %v", tok.Error())
		}
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	return http.ListenAndServe(httpAddr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, count.Load())
	}))
}

// citywatchBinary builds cmd/citywatch once into a temporary directory, as `make build` does.
var citywatchBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "citywatch-bench-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "citywatch")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/citywatch")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/citywatch (run the bench from the repository root): %w: %s", err, out)
	}
	return bin, nil
})

// serveProc is a `citywatch serve --config FILE` child process.
type serveProc struct {
	cmd    *exec.Cmd
	dir    string
	base   string
	mqtt   string
	pprof  string // serve's --pprof address when CITYWATCH_BENCH_SERVE_PPROF is set, else ""
	series int    // the active series of a scale run, naming its cold start's profile
}

// startServe writes cfg (with %[1]s for the data directory, %[2]s for the HTTP and %[3]s for the MQTT listen
// address) and runs `citywatch serve` on it until /readyz answers 200.
func startServe(cfg string) (*serveProc, error) {
	bin, err := citywatchBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "citywatch-bench-serve-")
	if err != nil {
		return nil, err
	}
	s := &serveProc{dir: dir, base: "http://127.0.0.1:" + strconv.Itoa(freePort()), mqtt: "127.0.0.1:" + strconv.Itoa(freePort())}
	path := filepath.Join(dir, "citywatch.yaml")
	body := fmt.Sprintf(cfg, filepath.Join(dir, "data"), strings.TrimPrefix(s.base, "http://"), s.mqtt)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "citywatch.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, s.serveArgs(path)...)
	s.cmd.Env = append(os.Environ(), "CITYWATCH_ADMIN_TOKEN="+benchToken)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitHTTP(s.base+"/readyz", 60*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "citywatch.log"))
		s.stop()
		return nil, fmt.Errorf("citywatch serve: %w; log: %.2000s", err, log)
	}
	return s, nil
}

// serveArgs are the arguments of a serve child on config file path: --pprof on a free loopback port when
// CITYWATCH_BENCH_SERVE_PPROF asks for profiles.
func (s *serveProc) serveArgs(path string) []string {
	args := []string{"serve", "--config", path}
	if serveProfileDir() != "" {
		if s.pprof == "" {
			s.pprof = "127.0.0.1:" + strconv.Itoa(freePort())
		}
		args = append(args, "--pprof", s.pprof)
	}
	return args
}

func (s *serveProc) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	os.RemoveAll(s.dir)
}

// metric returns the sum of the samples of the metric name whose label set contains match ("" for any), read
// from /metrics.
func (s *serveProc) metric(name, match string) (float64, error) {
	resp, err := benchRequest("GET", s.base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name) || len(l) <= len(name) || (l[len(name)] != ' ' && l[len(name)] != '{') {
			continue
		}
		if match != "" && !strings.Contains(l, match) {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("/metrics line %q: %w", l, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("/metrics has no %s%s", name, match)
	}
	return sum, sc.Err()
}

// rss is the process's resident memory, from /proc.
func (s *serveProc) rss() (int64, error) { return procRSS(s.cmd.Process.Pid) }

func procRSS(pid int) (int64, error) { return procStatus(pid, "VmRSS") }

// procPeakRSS is the largest resident set pid has had (VmHWM).
func procPeakRSS(pid int) (int64, error) { return procStatus(pid, "VmHWM") }

// procStatus reads a size in bytes from /proc/<pid>/status.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no " + field)
}

// timedDelivery publishes n messages with publishProcs and returns messages per second from the start of
// publishing until count reached its start value plus n (a stall fails after 5 minutes). It polls count
// less often while the end is far (pollInterval): each poll of `citywatch serve` is a /metrics scrape of a few
// milliseconds of its CPU, which a fixed 5 ms poll made a tax of a sizeable share of a core on the measured
// process while its backlog drained (the baselines' counts cost nothing).
func timedDelivery(count func() (int64, error), addr string, n, procs, devices, fields int, qos byte) (float64, error) {
	before, err := count()
	if err != nil {
		return 0, err
	}
	n = n / procs * procs
	start := time.Now()
	if err := publishProcs(addr, n, procs, devices, fields, qos); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, err := count()
		if err != nil {
			return 0, err
		}
		if c >= before+int64(n) {
			return float64(n) / time.Since(start).Seconds(), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("only %d of %d messages arrived within 5 minutes", c-before, n)
		}
		time.Sleep(pollInterval(before+int64(n)-c, c-before, time.Since(start)))
	}
}

// pollInterval is how long timedDelivery waits before its next poll: half the time the remaining messages
// take at the rate so far, between 5 ms (the resolution near the end) and 100 ms.
func pollInterval(remaining, done int64, elapsed time.Duration) time.Duration {
	const lo, hi = 5 * time.Millisecond, 100 * time.Millisecond
	if done <= 0 {
		return lo
	}
	eta := time.Duration(float64(elapsed) * float64(remaining) / float64(done))
	return min(max(eta/2, lo), hi)
}

// serveCount reads citywatch_ingest_messages_total of one source from a serve process.
func serveCount(s *serveProc, source string) func() (int64, error) {
	return func() (int64, error) {
		v, err := s.metric("citywatch_ingest_messages_total", `source="`+source+`"`)
		if err != nil && strings.Contains(err.Error(), "has no") {
			return 0, nil // no message yet
		}
		return int64(v), err
	}
}

// embeddedServeConfig is `citywatch serve` with its embedded broker and defaults otherwise.
const embeddedServeConfig = `data_dir: %[1]s
http:
  listen: %[2]s
broker:
  listen: %[3]s
  allow_anonymous: true
ingest:
  max_devices: %[4]d
`

// roundsResult holds each contender's rates per round.
type roundsResult map[string][]float64

func (r roundsResult) median(name string) float64 {
	s := slices.Clone(r[name])
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// all prints the median and the rounds: "52,310 msg/s (median of 51,000 / 52,310 / 60,100)".
func (r roundsResult) all(name string) string {
	parts := make([]string, len(r[name]))
	for i, v := range r[name] {
		parts[i] = fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.0f msg/s (rounds %s)", r.median(name), strings.Join(parts, " / "))
}

// alternate runs the contenders serveRounds times, rotating which goes first, and records their rates.
func alternate(names []string, run func(name string) (float64, error)) (roundsResult, error) {
	res := roundsResult{}
	for round := range serveRounds {
		for k := range names {
			name := names[(k+round)%len(names)]
			v, err := run(name)
			if err != nil {
				return res, fmt.Errorf("%s, round %d: %w", name, round+1, err)
			}
			fmt.Fprintf(os.Stderr, "    round %d %s: %.0f msg/s\n", round+1, name, v)
			res[name] = append(res[name], v)
		}
	}
	return res, nil
}

// serveIngestRows adds the embedded-broker rows: publishers (separate processes) → `citywatch serve` vs → a
// bare mochi broker with a counting subscriber (a separate process).
func serveIngestRows(add func(row), msgs, procs int) {
	for _, qos := range []byte{0, 1} {
		what := fmt.Sprintf("ingest through `citywatch serve` (embedded broker, defaults), 5-field JSON from %d publisher processes over 1,000 devices, QoS %d, counted in /metrics; %d alternating rounds", procs, qos, serveRounds)
		res, err := alternate([]string{"mochi", "serve"}, func(name string) (float64, error) {
			if name == "mochi" {
				c, err := startCounterChild("mochi", "127.0.0.1:"+strconv.Itoa(freePort()), qos)
				if err != nil {
					return 0, err
				}
				defer c.stop()
				return timedDelivery(c.count, c.mqttAddr, msgs, procs, 1000, 5, qos)
			}
			s, err := startServe(fmt.Sprintf(embeddedServeConfig, "%[1]s", "%[2]s", "%[3]s", 100000))
			if err != nil {
				return 0, err
			}
			defer s.stop()
			return timedDelivery(serveCount(s, "embedded"), s.mqtt, msgs, procs, 1000, 5, qos)
		})
		if err != nil {
			failed(add, what, err)
			continue
		}
		goal := "≥100k msg/s, ratio ≥0.7"
		if qos == 1 {
			goal = "≥60k msg/s, ratio ≥0.7"
		}
		add(row{what, res.all("serve"), res.all("mochi") + " (bare mochi, counting subscriber, separate process)",
			ratio(res.median("serve"), res.median("mochi")), goal})
	}
}

// externalServeConfig is `citywatch serve` subscribed to an external broker, its own broker off.
const externalServeConfig = `data_dir: %[1]s
http:
  listen: %[2]s
broker:
  enabled: false
ingest:
  sources:
    - name: bench
      url: tcp://%[4]s
      client_id: bench-citywatch
      qos: %[5]d
`

// telegrafConfig is Telegraf's mqtt_consumer (JSON parser) tuned for throughput, writing to InfluxDB v2.
const telegrafConfig = `[agent]
  interval = "1s"
  flush_interval = "100ms"
  flush_jitter = "0s"
  metric_batch_size = 10000
  metric_buffer_limit = 1000000
  omit_hostname = true
[[inputs.mqtt_consumer]]
  servers = ["tcp://%s"]
  topics = ["city/#"]
  qos = %d
  client_id = "bench-telegraf"
  persistent_session = true
  max_undelivered_messages = 20000
  data_format = "json"
[[outputs.influxdb_v2]]
  urls = ["%s"]
  token = "bench"
  organization = "bench"
  bucket = "bench"
`

// lineCounter is an InfluxDB v2 write endpoint that counts the lines (points) written to it.
type lineCounter struct {
	srv *httptest.Server
	n   atomic.Int64
}

func newLineCounter() *lineCounter {
	lc := &lineCounter{}
	lc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/write" {
			w.WriteHeader(http.StatusNoContent) // health and ping
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			defer gz.Close()
			body = gz
		}
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var n int64
		for sc.Scan() {
			if len(sc.Bytes()) > 0 {
				n++
			}
		}
		lc.n.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	return lc
}

// Telegraf is the external-broker baseline, built (once, minutes) into the test-binary cache.
const (
	telegrafModule  = "github.com/influxdata/telegraf"
	telegrafVersion = "v1.37.2"
	telegrafTags    = "custom,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json"
)

// telegrafBinary returns Telegraf from the cache (internal/testenv's CacheBin, where
// scripts/install-test-deps.sh builds influxd), building it there first if it is missing or another version:
// go install -tags custom,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json telegraf@v1.37.2, outside the
// repository so its go.mod does not apply.
var telegrafBinary = sync.OnceValues(func() (string, error) {
	dir := testenv.CacheBin()
	bin := filepath.Join(dir, "telegraf")
	ok := func() bool {
		out, err := exec.Command("go", "version", "-m", bin).Output()
		return err == nil && strings.Contains(string(out), telegrafModule+"\t"+telegrafVersion)
	}
	if ok() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "    building Telegraf %s into %s (a few minutes)...\n", telegrafVersion, dir)
	cmd := exec.Command("go", "install", "-tags", telegrafTags, telegrafModule+"/cmd/telegraf@"+telegrafVersion)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building Telegraf (go install -tags %s %s/cmd/telegraf@%s): %w: %.2000s", telegrafTags,
			telegrafModule, telegrafVersion, err, out)
	}
	if !ok() {
		return "", fmt.Errorf("built %s but go version -m does not show %s %s", bin, telegrafModule, telegrafVersion)
	}
	return bin, nil
})

// startTelegraf runs Telegraf against the broker at addr, writing to the InfluxDB v2 endpoint out; pid is its
// process.
func startTelegraf(addr string, qos byte, out string) (pid int, stop func(), err error) {
	bin, err := telegrafBinary()
	if err != nil {
		return 0, nil, err
	}
	dir, err := os.MkdirTemp("", "citywatch-bench-telegraf-")
	if err != nil {
		return 0, nil, err
	}
	conf := filepath.Join(dir, "telegraf.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, telegrafConfig, addr, qos, out), 0o600); err != nil {
		return 0, nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "telegraf.log"))
	if err != nil {
		return 0, nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	return cmd.Process.Pid, func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) }, nil
}

// waitSubscribed waits until a message published to the broker at addr reaches count (the subscriber is
// connected and subscribed), so that no measured message is published before the subscription exists.
func waitSubscribed(addr string, count func() (int64, error), qos byte) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		before, err := count()
		if err != nil {
			return err
		}
		if err := publishProcs(addr, 1, 1, 1, 5, qos); err != nil {
			return err
		}
		probe := time.Now().Add(2 * time.Second)
		for time.Now().Before(probe) {
			if c, err := count(); err == nil && c > before {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			return errors.New("the subscriber received nothing within 60 s")
		}
	}
}

// externalServeRows adds the external-broker rows: publishers → mosquitto → `citywatch serve` (ingest.sources)
// vs a bare paho subscriber vs Telegraf's mqtt_consumer forwarding to a counting InfluxDB v2 endpoint, each
// alone on a fresh mosquitto with the same publisher load. Each row also gives, per contender, the median CPU
// time per message of the subscriber's process and of mosquitto over the timed delivery (from /proc): on a
// loaded machine rates swing with the other work, CPU per message much less.
func externalServeRows(add func(row), msgs, procs int, qosList []byte) {
	for _, qos := range qosList {
		what := fmt.Sprintf("external mosquitto → `citywatch serve` (ingest.sources, defaults), 5-field JSON from %d publisher processes, QoS %d, counted in /metrics; %d alternating rounds", procs, qos, serveRounds)
		cpu := roundsResult{} // µs per message: "<name>" the subscriber's process, "<name> mosquitto" the broker's
		rounds := map[string]int{}
		res, err := alternate([]string{"paho", "serve", "telegraf"}, func(name string) (float64, error) {
			rounds[name]++
			dir, err := os.MkdirTemp("", "citywatch-bench-mosq-")
			if err != nil {
				return 0, err
			}
			defer os.RemoveAll(dir)
			addr, mosqPid, stopMosq, err := mosquitto(dir)
			if err != nil {
				return 0, err
			}
			defer stopMosq()
			var count func() (int64, error)
			var pid int
			var profiled *serveProc // the serve child, profiled during the timed delivery when asked
			switch name {
			case "paho":
				c, err := startCounterChild("paho", addr, qos)
				if err != nil {
					return 0, err
				}
				defer c.stop()
				count, pid = c.count, c.cmd.Process.Pid
			case "serve":
				s, err := startServe(fmt.Sprintf(externalServeConfig, "%[1]s", "%[2]s", "%[3]s", addr, qos))
				if err != nil {
					return 0, err
				}
				defer s.stop()
				count, pid, profiled = serveCount(s, "bench"), s.cmd.Process.Pid, s
			case "telegraf":
				lc := newLineCounter()
				defer lc.srv.Close()
				var stop func()
				if pid, stop, err = startTelegraf(addr, qos, lc.srv.URL); err != nil {
					return 0, err
				}
				defer stop()
				count = func() (int64, error) { return lc.n.Load(), nil }
			}
			if err := waitSubscribed(addr, count, qos); err != nil {
				return 0, err
			}
			before, err := processesCPU(pid, mosqPid)
			if err != nil {
				return 0, err
			}
			if profiled != nil {
				fetched := profiled.serveProfile(0, fmt.Sprintf("external-qos%d-round%d-cpu", qos, rounds[name]), cpuProfilePath(5*time.Second))
				defer func() {
					if err := fetched(); err != nil {
						fmt.Fprintln(os.Stderr, "bench:", err)
					}
				}()
			}
			r, err := timedDelivery(count, addr, msgs, procs, 1000, 5, qos)
			if err != nil {
				return 0, err
			}
			after, err := processesCPU(pid, mosqPid)
			if err != nil {
				return 0, err
			}
			n := float64(msgs / procs * procs)
			cpu[name] = append(cpu[name], float64((after[0]-before[0]).Microseconds())/n)
			cpu[name+" mosquitto"] = append(cpu[name+" mosquitto"], float64((after[1]-before[1]).Microseconds())/n)
			return r, nil
		})
		if err != nil {
			failed(add, what, err)
			continue
		}
		perMsg := func(name string) string {
			return fmt.Sprintf("%.1f / %.1f", cpu.median(name), cpu.median(name+" mosquitto"))
		}
		add(row{what, res.all("serve"), res.all("paho") + " (bare paho subscriber, separate process); Telegraf v1.37.2 mqtt_consumer → InfluxDB v2 endpoint (20,000 undelivered, 10,000-metric batches, 100 ms flush): " + res.all("telegraf") +
			"; CPU µs per message, subscriber / mosquitto (medians): serve " + perMsg("serve") + ", paho " + perMsg("paho") + ", Telegraf " + perMsg("telegraf") + " (its InfluxDB endpoint, in the bench process, not counted)",
			ratio(res.median("serve"), res.median("paho")) + " of paho; " + ratio(res.median("serve"), res.median("telegraf")) + " of Telegraf",
			"≥0.9× paho, ≥1.2× Telegraf"})
	}
}

// processesCPU is the CPU time (user + system) each of pids has used so far.
func processesCPU(pids ...int) ([]time.Duration, error) {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		d, err := testenv.ProcessCPU(pid)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
