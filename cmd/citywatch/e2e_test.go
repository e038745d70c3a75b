package main_test

// End-to-end tests: build the binary once and drive it the way a user does — start it, publish with a real
// MQTT client, read the HTTP API, stop it with signals.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"citywatch/internal/testenv"
)

var binPath string

// adminToken is the CITYWATCH_ADMIN_TOKEN every started citywatch gets; requests carry it as a bearer token.
const adminToken = "e2e-admin-token-0123456789abcdef"

// ioParallel is how many end-to-end tests run at once (e2e). Each spends most of its time waiting on its own
// citywatch: for a reading to be stored, a rule's for, a ward round, a restart after SIGKILL. Waiting one after
// another put the package at three minutes on two cores while the processes used a fraction of the CPU.
const ioParallel = 4

// TestMain builds the binary once (testenv.BuildCitywatch: a link only when something changed since the last
// run), with -race only when this test binary is race-built (raceEnabled). Under -short it builds nothing:
// every test here is end-to-end and skips (needBinary).
func TestMain(m *testing.M) {
	flag.Parse()
	testenv.IOParallel(ioParallel)
	if testing.Short() {
		os.Exit(m.Run())
	}
	var err error
	if binPath, err = testenv.BuildCitywatch(raceEnabled); err != nil {
		fmt.Fprintf(os.Stderr, "build citywatch: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// proc is a running citywatch.
type proc struct {
	*testenv.Process
	t *testing.T
}

// needBinary returns the citywatch binary TestMain built, and skips the test under -short (nothing was built).
func needBinary(t *testing.T) string {
	t.Helper()
	testenv.SkipShort(t)
	return binPath
}

// e2e marks an end-to-end test: it skips under -short (needBinary) and runs beside the package's other
// end-to-end tests (t.Parallel, ioParallel at a time). Each has its own ports (testenv.FreePort), data directory
// and processes, so none sees another's. A test that sets the environment (t.Setenv), measures this test
// process, or bounds what a process does under a load it makes itself (TestQueryBudgetUnderHostileLoad) does
// not call it.
func e2e(t *testing.T) {
	t.Helper()
	needBinary(t)
	t.Parallel()
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	needBinary(t)
	return &proc{Process: testenv.StartProcess(t, binPath, []string{"CITYWATCH_ADMIN_TOKEN=" + adminToken}, args...), t: t}
}

// stop sends SIGTERM and requires a clean exit within a minute.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.Stop(60 * time.Second); err != nil {
		p.t.Fatalf("citywatch after SIGTERM: %v\n%s", err, p.Out.String())
	}
}

// minWait is the shortest bound eventually waits. The tests here run with -race next to other packages' tests
// on a two-core machine: a citywatch that prints its banner or applies a reload in well under a second when
// alone can take over 10 s then (TestDemo failed so on a loaded machine: /readyz answered, the banner came
// more than 10 s later). A bound only turns a hang into a failure — nothing here asserts wall-clock time —
// so it is generous.
const minWait = 60 * time.Second

// eventually polls cond until it returns "" or the deadline passes (within, at least minWait); the last
// message explains the failure.
func eventually(t *testing.T, within time.Duration, cond func() string) {
	t.Helper()
	testenv.Eventually(t, max(within, minWait), 50*time.Millisecond, cond)
}

// get sends an authenticated GET.
func get(url string) (*http.Response, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	return http.DefaultClient.Do(req)
}

func getJSON(base, path string, v any) (int, error) {
	resp, err := get(base + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: %w: %s", path, err, body)
		}
	}
	return resp.StatusCode, nil
}

// A starting citywatch is called hung only once it has used readyCPU of CPU time, or has taken readyWall,
// without answering /readyz. Its start costs seconds of CPU under -race (opening the TSDB and the database,
// hashing the first admin's password), but the wall time that takes depends on everything else the machine
// runs: ioParallel citywatches starting at once next to other packages' tests took more than a minute each on a
// loaded machine. CPU time is what the process itself spent, so a bound on it does not grow with the load; the
// wall bound only catches a process that blocks without spending CPU.
const (
	readyCPU  = 60 * time.Second
	readyWall = 5 * time.Minute
)

// waitReady waits until the citywatch p answers /readyz, and fails when it exits first or looks hung
// (readyCPU, readyWall).
func waitReady(t *testing.T, p *proc, base string) {
	t.Helper()
	deadline := time.Now().Add(readyWall)
	for {
		select {
		case <-p.Done():
			t.Fatalf("citywatch exited early: %v\n%s", p.Err(), p.Out.String())
		default:
		}
		code, err := getJSON(base, "/readyz", nil)
		if err == nil && code == http.StatusOK {
			return
		}
		cpu, cpuErr := testenv.ProcessCPU(p.Cmd.Process.Pid)
		if cpuErr == nil && cpu > readyCPU || time.Now().After(deadline) {
			t.Fatalf("citywatch not ready after %v of CPU time (%v): /readyz: %d %v", cpu, cpuErr, code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// promResult is the part of Prometheus' query response the tests read.
type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func query(t *testing.T, base, q string) promResult {
	t.Helper()
	var r promResult
	code, err := getJSON(base, "/api/v1/query?query="+url.QueryEscape(q), &r)
	if err != nil || code != http.StatusOK || r.Status != "success" {
		t.Fatalf("query %q: %d %v %+v", q, code, err, r)
	}
	return r
}

func mqttClient(t *testing.T, broker, id string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c mqtt.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// TestDemo starts `citywatch demo` on free ports, publishes a reading to the embedded broker with a real MQTT
// client, reads it back through the Prometheus API, and checks the simulator's data and the self metrics.
func TestDemo(t *testing.T) {
	e2e(t)
	httpAddr, mqttAddr, rtspAddr := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	p := start(t, "demo", "--data", t.TempDir(), "--http", httpAddr, "--mqtt", mqttAddr, "--rtsp", rtspAddr)
	base := "http://" + httpAddr
	waitReady(t, p, base)
	eventually(t, 10*time.Second, func() string {
		if !strings.Contains(p.Out.String(), base) {
			return "the dashboard URL is not printed yet"
		}
		return ""
	})

	c := mqttClient(t, "tcp://"+mqttAddr, "e2e-demo")
	publish(t, c, "city/d1/siteA/sensor42", 1, `{"temperature":21.5,"humidity":40}`)
	eventually(t, 10*time.Second, func() string {
		r := query(t, base, `temperature{device="sensor42"}`)
		if len(r.Data.Result) != 1 {
			return fmt.Sprintf("want 1 series, got %+v", r.Data.Result)
		}
		m := r.Data.Result[0].Metric
		if m["district"] != "d1" || m["site"] != "siteA" || r.Data.Result[0].Value[1] != "21.5" {
			return fmt.Sprintf("got %+v", r.Data.Result[0])
		}
		return ""
	})
	// The simulator's sensors show up too.
	eventually(t, 20*time.Second, func() string {
		if r := query(t, base, `body_temperature`); len(r.Data.Result) == 0 {
			return "no simulated body_temperature yet"
		}
		return ""
	})
	// A bad payload is rejected, counted and listed.
	publish(t, c, "city/d1/siteA/sensor42", 1, `{"temperature":`)
	eventually(t, 10*time.Second, func() string {
		var rej struct {
			Rejected []struct {
				Topic, Reason string
			} `json:"rejected"`
		}
		if _, err := getJSON(base, "/api/ingest/rejected", &rej); err != nil {
			return err.Error()
		}
		for _, r := range rej.Rejected {
			if r.Topic == "city/d1/siteA/sensor42" && r.Reason == "bad_json" {
				return ""
			}
		}
		return fmt.Sprintf("bad payload not listed: %+v", rej.Rejected)
	})
	resp, err := get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"citywatch_ingest_messages_total", `citywatch_ingest_rejected_total{reason="bad_json"}`, "citywatch_tsdb_head_series", "citywatch_broker_clients_connected"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// In the demo, a request without credentials reads data as an all-sites viewer (the README's plain curl
	// works); metrics, user management, video and every change still need a login. The first admin's login was
	// printed once.
	for path, want := range map[string]int{"/api/v1/query?query=temperature": 200, "/api/devices": 200, "/api/cameras": 200,
		"/metrics": 403, "/api/users": 403, "/api/audit": 403, "/healthz": 200, "/login": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("anonymous GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if resp, err := http.Post(base+"/api/silences", "application/json", strings.NewReader(`{}`)); err != nil || resp.StatusCode != 401 {
		t.Errorf("anonymous POST /api/silences: %v %v, want 401", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	if !regexp.MustCompile(`Login:\s+admin / \S{12,}`).MatchString(p.Out.String()) {
		t.Errorf("the demo did not print the admin login:\n%s", p.Out.String())
	}
	// Unknown routes get a JSON 404.
	var e struct{ Error string }
	if code, err := getJSON(base, "/api/nope", &e); err != nil || code != http.StatusNotFound || e.Error == "" {
		t.Errorf("unknown route: %d %v %+v", code, err, e)
	}
	p.stop()
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "citywatch.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRestartPersistence: samples written before a clean stop and before a SIGKILL are queryable after restart.
func TestRestartPersistence(t *testing.T) {
	e2e(t)
	cw := newServe(t)
	base := cw.base()
	countOf := func(device string) string {
		r := query(t, base, fmt.Sprintf(`count_over_time(level{device=%q}[1h])`, device))
		if len(r.Data.Result) != 1 {
			return "0"
		}
		return r.Data.Result[0].Value[1].(string)
	}
	publishN := func(device string, n int) {
		c := mqttClient(t, cw.broker(), "e2e-"+device)
		now := time.Now().Add(-time.Minute).UnixMilli()
		for i := 0; i < n; i++ {
			publish(t, c, "city/d1/siteA/"+device, 1, fmt.Sprintf(`{"level":%d,"ts":%d}`, i, now+int64(i)))
		}
		c.Disconnect(100)
	}

	p := cw.start(t)
	publishN("clean", 100)
	p.stop()

	p = cw.start(t)
	if got := countOf("clean"); got != "100" {
		t.Fatalf("after a clean stop: %s of 100 samples", got)
	}
	publishN("killed", 100) // QoS 1: every PUBACK means the sample is in the WAL
	p.Kill()

	p = cw.start(t)
	if got := countOf("killed"); got != "100" {
		t.Fatalf("after SIGKILL: %s of 100 samples", got)
	}
	if got := countOf("clean"); got != "100" {
		t.Fatalf("after SIGKILL, the older samples: %s of 100", got)
	}
	p.stop()
}

// TestCollectorKilledWhileMosquittoDelivers publishes 10,000 QoS 1 messages with sequence numbers to a real
// mosquitto while the collector (citywatch serve with an external source) is SIGKILLed and restarted three
// times. Every sequence number must be queryable afterwards: duplicates are allowed, gaps are not.
func TestCollectorKilledWhileMosquittoDelivers(t *testing.T) {
	e2e(t)
	mq := testenv.Mosquitto(t)
	cw := newServe(t, asCollector("mosquitto", mq.URL, "citywatch-e2e-collector"))
	base := cw.base()
	p := cw.start(t) // the persistent session and its subscription exist from here on

	const total = 10000
	pub := mqttClient(t, mq.URL, "e2e-publisher")
	base0 := time.Now().Add(-10 * time.Minute).UnixMilli()
	published := make(chan int, total)
	go func() {
		defer close(published)
		for i := 0; i < total; i++ {
			tok := pub.Publish("city/d1/siteA/seqdev", 1, false, fmt.Sprintf(`{"seq":%d,"ts":%d}`, i, base0+int64(i)))
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Errorf("publish %d: %v", i, tok.Error())
				return
			}
			published <- i
		}
	}()
	// Kill the collector three times while the publisher runs: after 2,000, 4,500 and 7,000 messages.
	n := 0
	for _, at := range []int{2000, 4500, 7000} {
		for n < at {
			if _, ok := <-published; !ok {
				t.Fatal("publisher stopped early")
			}
			n++
		}
		p.Kill()
		p = cw.start(t)
	}
	for range published {
	}
	eventually(t, 120*time.Second, func() string {
		var r promResult
		code, err := getJSON(base, "/api/v1/query?query="+url.QueryEscape(`seq{device="seqdev"}[1h]`), &r)
		if err != nil || code != 200 || len(r.Data.Result) != 1 {
			return fmt.Sprintf("query: %d %v", code, err)
		}
		seen := make([]bool, total)
		for _, v := range r.Data.Result[0].Values {
			var i int
			fmt.Sscan(v[1].(string), &i)
			if i >= 0 && i < total {
				seen[i] = true
			}
		}
		var missing []int
		for i, ok := range seen {
			if !ok {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("%d of %d sequence numbers missing, first %v", len(missing), total, missing[:min(10, len(missing))])
		}
		return ""
	})
	p.stop()
}

// TestCheck: `citywatch check` exits 0 on a good file and 1 with every error listed as file:line on a bad one,
// never echoing a secret.
func TestCheck(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	good := writeConfig(t, dir, "data_dir: "+filepath.Join(dir, "data")+"\n")
	out, err := exec.Command(binPath, "check", "--config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": ok") {
		t.Fatalf("good config: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	body := `http:
  listen: nowhere
broker:
  users:
    - username: dev1
      password: s3cret-value
      publsh: ["city/#"]
ingest:
  rules:
    - topic: "a/{x}/#/b"
`
	if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "check", "--config", bad)
	out, err = cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("bad config: want exit 1, got %v\n%s", err, out)
	}
	for _, want := range []string{bad + ":2: http.listen", bad + ":7: broker.users[0].publsh", bad + ":10: ingest.rules[0].topic"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "s3cret-value") {
		t.Errorf("check printed the secret:\n%s", out)
	}
	out, _ = exec.Command(binPath, "check", "--config", good, "--print").CombinedOutput()
	if !strings.Contains(string(out), "retention: 15d") {
		t.Errorf("--print lacks the defaults:\n%s", out)
	}
}

// TestReloadMappingOnSIGHUP: a new ingest rule applies after SIGHUP without a restart; an invalid file is
// refused and the running configuration stays.
func TestReloadMappingOnSIGHUP(t *testing.T) {
	e2e(t)
	cw := newServe(t)
	base := cw.base()
	p := cw.start(t)
	c := mqttClient(t, cw.broker(), "e2e-reload")

	publish(t, c, "legacy/boiler7/pressure", 1, "2.5")
	eventually(t, 10*time.Second, func() string {
		var rej struct {
			Rejected []struct{ Topic, Reason string }
		}
		getJSON(base, "/api/ingest/rejected", &rej)
		if len(rej.Rejected) == 0 || rej.Rejected[0].Reason != "unmapped_topic" {
			return fmt.Sprintf("legacy topic not rejected as unmapped yet: %+v", rej.Rejected)
		}
		return ""
	})

	// Each reload rewrites the ingest rules and sends SIGHUP; once the outcome is logged, a reading of device
	// must be stored: by the new rule, or after a refused reload by the running one.
	for _, step := range []struct{ rules, logged, device, lost string }{
		{"    - topic: \"legacy/{device}/{metric}\"\n      format: number\n", "configuration reloaded", "boiler7",
			"pressure not stored after reload"},
		{"    - topic: \"legacy/#/x\"\n", "reload refused", "boiler8", "the running rules were lost by a refused reload"},
	} {
		cw.write(t, withYAML("ingest:\n  rules:\n"+step.rules))
		p.Signal(syscall.SIGHUP)
		eventually(t, 10*time.Second, func() string {
			if !strings.Contains(p.Out.String(), step.logged) {
				return "not logged yet: " + step.logged
			}
			return ""
		})
		publish(t, c, "legacy/"+step.device+"/pressure", 1, "2.5")
		eventually(t, 10*time.Second, func() string {
			if r := query(t, base, fmt.Sprintf(`pressure{device=%q}`, step.device)); len(r.Data.Result) != 1 {
				return step.lost
			}
			return ""
		})
	}
	p.stop()
}
