// Command bench measures citywatch's performance on this machine and prints one Markdown table: every
// figure next to a baseline measured in the same run (a bare mochi subscriber, a bare paho subscriber), so
// ratios hold across machines. `make bench` runs it; docs/benchmarks.md records its output.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"citywatch/sim/camerasim"
)

type row struct {
	what, value, baseline, ratio, goal string
}

func main() {
	msgs := flag.Int("messages", 300000, "messages per embedded-broker run (each of 3 rounds per contender)")
	extMsgs := flag.Int("external-messages", 100000, "messages per external-broker run (each of 3 rounds per contender)")
	publishers := flag.Int("publishers", 4, "publisher processes (one connection each)")
	series := flag.Int("series", 100000, "active series for the serve scale and RSS rows")
	series1M := flag.Bool("series-1m", false, "also measure serve at 1,000,000 series (166,667 devices; several minutes, needs ~2 GB)")
	skipExternal := flag.Bool("skip-external", false, "skip the mosquitto measurements")
	externalQoS := flag.String("external-qos", "0,1", "QoS levels of the mosquitto measurements, comma-separated")
	skipServeRates := flag.Bool("skip-serve-rates", false, "skip the embedded-broker serve rate rows (keep the scale, RSS and query rows)")
	skipServeScale := flag.Bool("skip-serve-scale", false, "skip the serve scale, RSS and range query rows (keep the rate rows)")
	skipIngest := flag.Bool("skip-ingest", false, "skip the ingest, memory and query measurements")
	skipAlerts := flag.Bool("skip-alerts", false, "skip the alerting measurements")
	skipInflux := flag.Bool("skip-influx", false, "skip the InfluxDB measurements")
	skipRemoteWrite := flag.Bool("skip-remote-write", false, "skip the remote write (VictoriaMetrics) measurements")
	remoteWriteSamplesN := flag.Int("remote-write-samples", 300000, "samples for the remote write throughput")
	remoteWriteOutage := flag.Duration("remote-write-outage", 60*time.Second, "simulated remote write outage: backlog = 5,000 samples/s × this")
	skipCameras := flag.Bool("skip-cameras", false, "skip the camera measurements")
	alertN := flag.Int("alerts", 60, "alerts (distinct devices) for the publish → webhook latency")
	eventRounds := flag.Int("event-rounds", 10, "camera faults for the event rule latency")
	deliveries := flag.Int("deliveries", 10000, "notifications for the outbox throughput")
	ruleCount := flag.Int("rules", 1000, "rules per evaluation round")
	ruleSeries := flag.Int("rule-series", 100000, "series the rules select from")
	influxSamplesN := flag.Int("influx-samples", 300000, "samples for the InfluxDB throughput")
	influxOutage := flag.Duration("influx-outage", 60*time.Second, "simulated outage: backlog = 5,000 samples/s × this")
	camN := flag.Int("cameras", 32, "cameras for the per-camera CPU and RSS")
	camFrom := flag.Int("camera-search-from", 16, "first camera count of the real-time search (doubles)")
	camMax := flag.Int("camera-search-max", 512, "largest camera count tried by the real-time search (at most 1000)")
	camDetect := flag.Int("detect-cameras", 100, "cameras for the stall/disconnect detection latency")
	camWarmup := flag.Duration("camera-warmup", 5*time.Second, "camera warm-up before measuring")
	camWindow := flag.Duration("camera-window", 10*time.Second, "camera measurement window")
	skipAnalysis := flag.Bool("skip-analysis", false, "skip the camera analysis cost measurement")
	analysisN := flag.Int("analysis-cameras", 8, "cameras for the analysis cost")
	skipUI := flag.Bool("skip-ui", false, "skip the SSE fan-out and page load measurements")
	skipSSE := flag.Bool("skip-sse", false, "skip the SSE fan-out measurements (keep the page rows)")
	skipQueryBudget := flag.Bool("skip-query-budget", false, "skip the hostile query load measurements")
	skipCentre := flag.Bool("skip-centre", false, "skip the centre (storage.query → VictoriaMetrics) query measurements")
	skipPrivacy := flag.Bool("skip-privacy", false, "skip the privacy mask (snapshot, clip, transcode) cost measurements")
	skipWard := flag.Bool("skip-ward", false, "skip the ward and round view measurements (500-room site)")
	uiDevices := flag.Int("ui-devices", 500, "devices publishing once a second for the SSE and page measurements")
	uiCameras := flag.Int("ui-cameras", 50, "simulated cameras for the SSE and page measurements")
	sseClientsN := flag.Int("sse-clients", 100, "concurrent /api/events clients")
	sseWindow := flag.Duration("sse-window", 15*time.Second, "SSE measurement window")
	pageLoads := flag.Int("page-loads", 3, "site page loads (the median is reported)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (not of the measuring children) to this file")
	childRole := flag.String("child", "", "internal: run as a measuring child (monitor|bare|analyze)")
	childURL := flag.String("child-url", "", "internal: rtsp://host:port of the simulator")
	childN := flag.Int("child-n", 0, "internal: cameras")
	childWarmup := flag.Duration("child-warmup", 0, "internal: warm-up")
	childWindow := flag.Duration("child-window", 0, "internal: window")
	childQoS := flag.Int("child-qos", 0, "internal: publisher/subscriber QoS")
	childOffset := flag.Int("child-offset", 0, "internal: publisher's first device")
	childDevices := flag.Int("child-devices", 1000, "internal: devices the publisher spreads messages over")
	childFields := flag.Int("child-fields", 5, "internal: fields per message")
	flag.Parse()
	switch *childRole {
	case "":
	case "publish":
		if err := runPublisherChild(publisherArgs{addr: *childURL, n: *childN, offset: *childOffset, devices: *childDevices,
			qos: *childQoS, fields: *childFields}); err != nil {
			fmt.Fprintln(os.Stderr, "publish:", err)
			os.Exit(1)
		}
		return
	case "mochi", "paho":
		if err := runCounterChild(*childRole, *childURL, byte(*childQoS)); err != nil {
			fmt.Fprintln(os.Stderr, *childRole+":", err)
			os.Exit(1)
		}
		return
	default:
		runChild(*childRole, *childURL, *childN, *childWarmup, *childWindow)
		return
	}
	stopProfile := func() {}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
	}
	began := time.Now()
	loadBefore := loadAverage()

	var rows []row
	add := func(r row) {
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "  %s: %s (baseline %s, ratio %s)\n", r.what, r.value, r.baseline, r.ratio)
	}
	if !*skipIngest {
		seriesList := []int{*series}
		if *series1M {
			seriesList = append(seriesList, 1000000)
		}
		if *skipServeScale {
			seriesList = nil
		}
		qosList, err := parseQoSList(*externalQoS)
		check(err)
		ingestRows(add, *msgs, *extMsgs, *publishers, seriesList, qosList, *skipExternal, *skipServeRates)
	}
	if !*skipAlerts {
		alertRows(add, *alertN, *eventRounds, *deliveries, *ruleCount, *ruleSeries)
	}
	if !*skipInflux {
		influxRows(add, *influxSamplesN, *influxOutage)
	}
	if !*skipRemoteWrite {
		remoteWriteRows(add, *remoteWriteSamplesN, *remoteWriteOutage)
	}
	if !*skipCameras || !*skipAnalysis {
		clip, err := genClip(cameraStream)
		if err != nil {
			failed(add, "camera clip", err)
		} else {
			var monitorPerCam float64
			if !*skipCameras {
				monitorPerCam = cameraRows(add, clip, *camN, *camFrom, min(*camMax, camerasim.MaxCameras), *camDetect, *camWarmup, *camWindow)
			}
			if !*skipAnalysis {
				analysisRows(add, clip, *analysisN, monitorPerCam, *camWarmup, *camWindow)
			}
		}
	}

	if !*skipUI {
		uiRows(add, *uiDevices, *uiCameras, *sseClientsN, *sseWindow, *pageLoads, *skipSSE)
	}
	if !*skipQueryBudget {
		queryBudgetRows(add)
	}
	if !*skipCentre {
		centreRows(add)
	}
	privacyRows(add, *skipPrivacy)
	wardRows(add, *skipWard, *pageLoads)

	fmt.Printf("\nMachine: %d cores, %s/%s, %s. Command: `go run ./bench%s` (`make bench` runs it without flags). Load average (1/5/15 min) at the start: %s, at the end: %s. Took %s.\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), argsString(), loadBefore, loadAverage(), time.Since(began).Round(time.Second))
	fmt.Println("| measurement | citywatch | baseline (same run) | ratio | goal |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s |\n", r.what, r.value, r.baseline, r.ratio, r.goal)
	}
	stopProfile()
	exitOnFailures()
}

// ingestRows adds the ingest rows: `citywatch serve` driven from outside (serve.go) and the range query.
func ingestRows(add func(row), msgs, extMsgs, publishers int, seriesList []int, extQoS []byte, skipExternal, skipServeRates bool) {
	if !skipServeRates {
		serveIngestRows(add, msgs, publishers)
	}
	if !skipExternal {
		externalServeRows(add, extMsgs, publishers, extQoS)
	}
	if len(seriesList) == 0 {
		return // -skip-serve-scale
	}
	seriesRows(add, seriesList, publishers)
	q, err := rangeQuery(1000)
	if err != nil {
		failed(add, "range query", err)
		return
	}
	// The goal (a one-site 1 h range query at 1M series ≤ 200 ms) is the scale rows' query through serve; this
	// row is the engine alone on a small embedded TSDB.
	add(row{"range query in process, 1 h × 1,000 series (20 sites) at 1 s resolution, step 15 s, embedded TSDB of those series alone",
		q.Round(time.Millisecond).String(), "", "", "none (the goal is the one-site row through serve)"})
}

// parseQoSList parses "0,1" into QoS levels.
func parseQoSList(s string) ([]byte, error) {
	var out []byte
	for _, f := range strings.Split(s, ",") {
		q, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || q < 0 || q > 1 {
			return nil, fmt.Errorf("-external-qos: want 0 and/or 1, got %q", f)
		}
		out = append(out, byte(q))
	}
	return out, nil
}

// argsString is the command-line flags of this run, for the table's header.
func argsString() string {
	var b strings.Builder
	for _, a := range os.Args[1:] {
		b.WriteString(" " + a)
	}
	return b.String()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func rate(perSec float64) string { return fmt.Sprintf("%.0f msg/s", perSec) }

func ratio(a, b float64) string { return fmt.Sprintf("%.2f", a/b) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// mosquitto starts a mosquitto on a free port for one measurement; pid is its process, for its CPU time.
func mosquitto(dir string) (addr string, pid int, stop func(), err error) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			return "", 0, nil, fmt.Errorf("mosquitto not installed (scripts/install-test-deps.sh installs it): %w", err)
		}
		bin = "/usr/sbin/mosquitto"
	}
	port := freePort()
	conf := filepath.Join(dir, "mosquitto.conf")
	// Large queues: the default max_queued_messages (1000) drops QoS 1 messages for slow persistent sessions.
	// A window of 1,000 unacknowledged QoS 1 messages per subscriber: Telegraf acknowledges only once its
	// output flushed (every 100 ms) and needs it; serve holds its max_inflight (256) of it, which did not limit
	// it (docs/benchmarks.md, "External mosquitto at QoS 1").
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 1000\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for i := 0; i < 200; i++ {
		if p, err := dialRaw(addr, "probe", true); err == nil {
			p.close()
			return addr, cmd.Process.Pid, stop, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return "", 0, nil, fmt.Errorf("mosquitto did not start on %s", addr)
}
