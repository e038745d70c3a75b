// Command bench measures citywatch's performance on this machine and prints one Markdown table: every
// figure next to a baseline measured in the same run (a bare mochi subscriber, a bare paho subscriber), so
// ratios hold across machines. `make bench` runs it; docs/benchmarks.md records its output.
package main

import (
	"context"
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
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"citywatch/ingest"
	"citywatch/ingest/broker"
	"citywatch/ingest/mapping"
	"citywatch/sim/camerasim"
	"citywatch/store/tsdb"
)

type row struct {
	what, value, baseline, ratio, goal string
}

func main() {
	msgs := flag.Int("messages", 300000, "messages per embedded-broker run")
	extMsgs := flag.Int("external-messages", 100000, "messages per external-broker run")
	publishers := flag.Int("publishers", 4, "concurrent publishing connections")
	series := flag.Int("series", 100000, "series for the memory measurement")
	skipExternal := flag.Bool("skip-external", false, "skip the mosquitto measurements")
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
	skipQueryBudget := flag.Bool("skip-query-budget", false, "skip the hostile query load measurements")
	skipCentre := flag.Bool("skip-centre", false, "skip the centre (storage.query → VictoriaMetrics) query measurements")
	skipPrivacy := flag.Bool("skip-privacy", false, "skip the privacy mask (snapshot, clip, transcode) cost measurements")
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
	flag.Parse()
	if *childRole != "" {
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

	var rows []row
	add := func(r row) {
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "  %s: %s (baseline %s, ratio %s)\n", r.what, r.value, r.baseline, r.ratio)
	}
	if !*skipIngest {
		ingestRows(add, *msgs, *extMsgs, *publishers, *series, *skipExternal)
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
		uiRows(add, *uiDevices, *uiCameras, *sseClientsN, *sseWindow, *pageLoads)
	}
	if !*skipQueryBudget {
		queryBudgetRows(add)
	}
	if !*skipCentre {
		centreRows(add)
	}
	privacyRows(add, *skipPrivacy)

	fmt.Printf("\nMachine: %d cores, %s/%s, %s. Command: `make bench` (go run ./bench). Took %s.\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), time.Since(began).Round(time.Second))
	fmt.Println("| measurement | citywatch | baseline (same run) | ratio | goal |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s |\n", r.what, r.value, r.baseline, r.ratio, r.goal)
	}
	stopProfile()
	exitOnFailures()
}

func ingestRows(add func(row), msgs, extMsgs, publishers, series int, skipExternal bool) {
	for _, qos := range []byte{0, 1} {
		base, err := embeddedBaseline(msgs, publishers, qos)
		check(err)
		cw, err := embeddedCitywatch(msgs, publishers, qos)
		check(err)
		goal := "≥100k msg/s, ratio ≥0.7"
		if qos == 1 {
			goal = "≥50k msg/s, ratio ≥0.7"
		}
		add(row{fmt.Sprintf("embedded broker → decode → TSDB, 5-field JSON, QoS %d", qos), rate(cw), rate(base) + " (bare mochi, counting subscriber)", ratio(cw, base), goal})
	}
	if !skipExternal {
		base, cw, err := external(extMsgs)
		check(err)
		add(row{"external mosquitto → paho → decode → TSDB, QoS 1", rate(cw), rate(base) + " (bare paho subscriber, counting)", ratio(cw, base), "ratio ≥0.9"})
	}
	perSeries, err := memoryPerSeries(series)
	check(err)
	add(row{fmt.Sprintf("memory per active series after %d series", series), fmt.Sprintf("%.2f KiB", perSeries/1024), "", "", "≤3 KiB"})
	q, err := rangeQuery(1000)
	check(err)
	add(row{"range query, 1 h × 1,000 series at 1 s resolution, step 15 s", q.Round(time.Millisecond).String(), "", "", "≤200 ms"})
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

// sensorPayload is a realistic 5-field sensor message; devices spread the load over 1,000 series per field.
func sensorMessage(i int) (string, []byte) {
	dev := i % 1000
	topic := "city/d" + strconv.Itoa(dev%10) + "/site" + strconv.Itoa(dev%50) + "/dev" + strconv.Itoa(dev)
	payload := fmt.Appendf(nil, `{"temperature":%.1f,"humidity":%d,"co2":%d,"battery":3.71,"rssi":-67}`, 20+float64(i%50)/10, 40+i%20, 600+i%300)
	return topic, payload
}

// publishRaw pushes n messages over `publishers` raw MQTT connections and returns when all are written (QoS 0)
// or acknowledged (QoS 1).
func publishRaw(addr string, n, publishers int, qos byte) error {
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	per := n / publishers
	for p := 0; p < publishers; p++ {
		pub, err := dialRaw(addr, "bench-pub-"+strconv.Itoa(p), true)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			defer pub.close()
			if err := pub.publishAll(per, qos, 1000, func(i int) (string, []byte) { return sensorMessage(p*per + i) }); err != nil {
				errs <- err
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// waitCount waits until count() reaches n, failing after a generous bound (a stall is a bug, not a figure).
func waitCount(count func() int64, n int64) error {
	deadline := time.Now().Add(5 * time.Minute)
	for count() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d messages arrived", count(), n)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

func embeddedBaseline(n, publishers int, qos byte) (float64, error) {
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: quiet})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return 0, err
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		return 0, err
	}
	if err := srv.Serve(); err != nil {
		return 0, err
	}
	defer srv.Close()
	var count atomic.Int64
	if err := srv.Subscribe("city/#", 1, func(*mochi.Client, packets.Subscription, packets.Packet) { count.Add(1) }); err != nil {
		return 0, err
	}
	per := n / publishers * publishers
	start := time.Now()
	if err := publishRaw(tcp.Address(), per, publishers, qos); err != nil {
		return 0, err
	}
	if err := waitCount(count.Load, int64(per)); err != nil {
		return 0, err
	}
	return float64(per) / time.Since(start).Seconds(), nil
}

// countingSink counts what the pipeline has finished with.
type countingSink struct {
	p *ingest.Pipeline
	n atomic.Int64
}

func (c *countingSink) Handle(ctx context.Context, m ingest.Message) error {
	err := c.p.Handle(ctx, m)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

func newPipeline(dir string) (*ingest.Pipeline, *tsdb.DB, error) {
	db, err := tsdb.Open(tsdb.Config{Dir: dir}, tsdb.Deps{Logger: quiet})
	if err != nil {
		return nil, nil, err
	}
	m, err := mapping.New(nil, mapping.Options{DefaultMapping: true})
	if err != nil {
		return nil, nil, err
	}
	p, err := ingest.NewPipeline(ingest.PipelineConfig{}, ingest.PipelineDeps{Mapper: m, Appender: db, Logger: quiet})
	return p, db, err
}

func embeddedCitywatch(n, publishers int, qos byte) (float64, error) {
	dir, err := os.MkdirTemp("", "citywatch-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	p, db, err := newPipeline(dir)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	sink := &countingSink{p: p}
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", AllowAnonymous: true}, broker.Deps{Sink: sink, Logger: quiet})
	if err != nil {
		return 0, err
	}
	if err := b.Start(); err != nil {
		return 0, err
	}
	defer b.Close()
	per := n / publishers * publishers
	start := time.Now()
	if err := publishRaw(b.Addrs().TCP, per, publishers, qos); err != nil {
		return 0, err
	}
	if err := waitCount(sink.n.Load, int64(per)); err != nil {
		return 0, err
	}
	return float64(per) / time.Since(start).Seconds(), nil
}

// mosquitto starts a mosquitto on a free port for one measurement.
func mosquitto(dir string) (addr string, stop func(), err error) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			return "", nil, fmt.Errorf("mosquitto not installed (scripts/install-test-deps.sh installs it): %w", err)
		}
		bin = "/usr/sbin/mosquitto"
	}
	port := freePort()
	conf := filepath.Join(dir, "mosquitto.conf")
	// Large queues: the default max_queued_messages (1000) drops QoS 1 messages for slow persistent sessions.
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 1000\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for i := 0; i < 200; i++ {
		if p, err := dialRaw(addr, "probe", true); err == nil {
			p.close()
			return addr, stop, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("mosquitto did not start on %s", addr)
}
