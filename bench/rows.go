package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// failed records a measurement that could not be made as a row saying why, so one broken measurement does not
// hide the others; the exit status still reports it.
func failed(add func(row), what string, err error) {
	failures++
	msg := strings.ReplaceAll(err.Error(), "|", "/")
	add(row{what, "FAILED: " + msg, "", "", ""})
}

// failures counts measurements that failed; main exits non-zero when there are any.
var failures int

func alertRows(add func(row), alertN, eventRounds, deliveries, rules, series int) {
	const what = "alert: publish → webhook received, rule `x > 0` for 0s, eval 1 s, group_wait 0"
	if r, err := alertLatency(alertN); err != nil {
		failed(add, what, err)
	} else {
		add(row{fmt.Sprintf("%s (%d alerts, p50 / p99)", what, r.n), ms(r.p50) + " / " + ms(r.p99),
			ms(r.baseP50) + " / " + ms(r.baseP99) + " (publish → visible in the query API)",
			"+" + ms(r.p99-r.baseP99), "p99 ≤1.5 s"})
	}
	const ewhat = "event rule CameraOffline (for 0s): fault → webhook received"
	if r, err := eventLatency(eventRounds); err != nil {
		failed(add, ewhat, err)
	} else {
		add(row{fmt.Sprintf("%s (%d refuse/disconnect faults, p50 / p99)", ewhat, r.n), ms(r.p50) + " / " + ms(r.p99),
			ms(r.baseP50) + " / " + ms(r.baseP99) + " (fault → state change in /api/cameras)",
			"+" + ms(r.p99-r.baseP99), "≤ detection + 0.5 s"})
	}
	const owhat = "notification deliveries/s through the durable outbox to a local receiver"
	if ob, direct, err := outboxThroughput(deliveries); err != nil {
		failed(add, owhat, err)
	} else {
		add(row{fmt.Sprintf("%s (%d, 8 concurrent)", owhat, deliveries), fmt.Sprintf("%.0f/s", ob),
			fmt.Sprintf("%.0f/s (direct POSTs, same bodies and concurrency)", direct), ratio(ob, direct), "≥2,000/s"})
	}
	rwhat := fmt.Sprintf("rule evaluation round: %d rules over %d series", rules, series)
	if round, bare, err := ruleEvalCost(rules, series); err != nil {
		failed(add, rwhat, err)
	} else {
		add(row{rwhat, ms(round), fmt.Sprintf("%s (the same %d queries on a bare PromQL engine)", ms(bare), rules),
			ratio(round.Seconds(), bare.Seconds()), "fits in the 1 s interval"})
	}
}

func influxRows(add func(row), samples int, outage time.Duration) {
	r, err := influxBench(samples, outage)
	if err != nil {
		failed(add, "InfluxDB forwarding", err)
		return
	}
	add(row{fmt.Sprintf("InfluxDB 1.8: samples/s through store/influx with the storage.influx defaults (disk queue → sender; batches of 5,000, flush 1 s, gzip on), %d samples; %d alternating rounds, median", samples, influxRounds),
		fmt.Sprintf("%.0f/s (rounds %s)", r.queued, influxRoundsText(r.queueRounds)),
		fmt.Sprintf("%.0f/s (rounds %s) (the client's blocking write API, same batches, its default: no gzip)", r.direct, influxRoundsText(r.directRounds)),
		ratio(r.queued, r.direct), "ratio ≥0.8"})
	qc, dc := medianCPU(r.queueCPU), medianCPU(r.directCPU)
	add(row{"InfluxDB CPU per sample in the same rounds (the writer's process + influxd; median round)",
		fmt.Sprintf("%.2f µs (%.2f + %.2f)", micros(qc.total()), micros(qc.self), micros(qc.server)),
		fmt.Sprintf("%.2f µs (%.2f + %.2f) (the client's blocking write API)", micros(dc.total()), micros(dc.self), micros(dc.server)),
		ratio(micros(qc.total()), micros(dc.total())), ""})
	add(row{fmt.Sprintf("InfluxDB drain after a %s outage at 5,000 samples/s (%d queued)", outage, r.backlog),
		fmt.Sprintf("%.0f/s, %.1f s", r.drain, r.drainSeconds), fmt.Sprintf("%s of outage", outage),
		fmt.Sprintf("%.1f× real time", r.ratio), "≥5× real time"})
	add(row{"InfluxDB queue disk bytes per sample (line protocol + record framing)", fmt.Sprintf("%.0f B", r.bytesPerSample), "", "", ""})
}

// cameraRows adds the camera monitor rows and returns the monitor's CPU per camera (cores), 0 if unmeasured.
func cameraRows(add func(row), clip streamClip, n, from, maxN, detectN int, warmup, window time.Duration) float64 {
	r, err := cameraBench(clip, n, from, maxN, detectN, warmup, window)
	if err != nil {
		failed(add, "cameras", err)
	}
	var mcpu float64
	if r.monitor.CPUCores > 0 && r.bare.CPUCores > 0 {
		mcpu = r.monitor.CPUCores / float64(n)
		bcpu := r.bare.CPUCores / float64(n)
		add(row{fmt.Sprintf("camera monitor alone (no sinks): CPU per camera (%d simulated %s cameras; simulator on the same machine)", n, clip),
			fmt.Sprintf("%.2f%% of a core", mcpu*100), fmt.Sprintf("%.2f%% (bare gortsplib reader that only depacketizes)", bcpu*100),
			ratio(mcpu, bcpu), "ratio ≤1.25"})
		mrss, brss := float64(r.monitor.RSSDelta)/float64(n)/(1<<20), float64(r.bare.RSSDelta)/float64(n)/(1<<20)
		add(row{"camera monitor alone (no sinks): RSS per camera", fmt.Sprintf("%.2f MB", mrss), fmt.Sprintf("%.2f MB (bare reader)", brss),
			ratio(mrss, brss), "≤0.5 MB/camera"})
	}
	if r.sinks.CPUCores > 0 && r.bare.CPUCores > 0 {
		scpu := (r.sinks.CPUCores + r.sinks.ChildCores) / float64(n)
		bcpu := r.bare.CPUCores / float64(n)
		add(row{fmt.Sprintf("camera CPU per camera with the default sinks, as serve runs it: monitor + analysis at the default fps (ffmpeg decoders included) + media ring (%d simulated %s cameras)", n, clip),
			fmt.Sprintf("%.2f%% of a core (citywatch %.2f%% + ffmpeg %.2f%%)", scpu*100, r.sinks.CPUCores/float64(n)*100, r.sinks.ChildCores/float64(n)*100),
			fmt.Sprintf("%.2f%% (bare gortsplib reader); monitor alone %.2f%%", bcpu*100, r.monitor.CPUCores/float64(n)*100), ratio(scpu, bcpu), ""})
		srss, brss := float64(r.sinks.RSSDelta)/float64(n)/(1<<20), float64(r.bare.RSSDelta)/float64(n)/(1<<20)
		add(row{"camera RSS per camera with the default sinks (the video ring is bounded by media.ring_seconds, 30 s, and media.ring_max_bytes, 32 MiB, per camera; ffmpeg decoders are separate processes, not included)",
			fmt.Sprintf("%.2f MB", srss), fmt.Sprintf("%.2f MB (bare reader); monitor alone %.2f MB", brss, float64(r.monitor.RSSDelta)/float64(n)/(1<<20)),
			ratio(srss, brss), ""})
	}
	if len(r.sinksRT.tried) > 0 {
		best := func(rt realtime) string {
			if rt.maxN >= maxN {
				return fmt.Sprintf("≥%d (the search cap)", rt.maxN)
			}
			return fmt.Sprint(rt.maxN)
		}
		s, b := r.sinksRT, r.bareRT
		value := best(s)
		if s.rep.Online > 0 {
			value += fmt.Sprintf(": %.2f%% of a core per camera (citywatch %.2f%% + ffmpeg %.2f%%), RSS %.2f MB per camera (ffmpeg not included); video ring %.2f MiB per camera (bounded by media.ring_seconds, 30 s, and media.ring_max_bytes, 32 MiB)",
				(s.rep.CPUCores+s.rep.ChildCores)/float64(s.maxN)*100, s.rep.CPUCores/float64(s.maxN)*100, s.rep.ChildCores/float64(s.maxN)*100,
				float64(s.rep.RSSDelta)/float64(s.maxN)/(1<<20), s.ringBytes/(1<<20))
		}
		base := best(b)
		if b.rep.Online > 0 {
			base += fmt.Sprintf(" (bare gortsplib reader: %.2f%% of a core, %.2f MB per camera)", b.rep.CPUCores/float64(b.maxN)*100, float64(b.rep.RSSDelta)/float64(b.maxN)/(1<<20))
		}
		add(row{fmt.Sprintf("largest camera count kept in real time with the default sinks (analysis + media ring), against the bare reader: %s, all online, ≥90%% of %d fps at the reader and at the simulator, 0 false offline; measured child at nice %d, simulator (%.2f%% of a core per camera at the last step) in the parent on the same %d cores (doubling %d..%d; sinks %s; bare reader %s)",
			clip, clip.fps, childNice, s.simPerCam*100, runtime.NumCPU(), from, maxN, s.stopped, b.stopped),
			value, base, ratio(float64(s.maxN), float64(b.maxN)), "N = 300"})
		add(row{"real-time search steps, default sinks", strings.Join(s.tried, "; "), "", "", ""})
		add(row{"real-time search steps, bare reader", strings.Join(b.tried, "; "), "", "", ""})
	}
	if r.stallP99 > 0 {
		bound := r.stallTimeout + r.checkI
		add(row{fmt.Sprintf("stall detection across %d cameras (p50 / p99; embedded 640x360 12 fps clip)", detectN), ms(r.stallP50) + " / " + ms(r.stallP99),
			ms(bound) + " (stall_timeout + check interval: the design bound)", ratio(r.stallP99.Seconds(), bound.Seconds()), "≤ bound"})
		add(row{fmt.Sprintf("disconnect detection across %d cameras (p50 / p99)", detectN), ms(r.discP50) + " / " + ms(r.discP99),
			"", "", "immediate (session closed)"})
	}
	return mcpu
}

// analysisRows adds the analysis cost row: CPU per analysed camera and how many fit on this machine.
func analysisRows(add func(row), clip streamClip, n int, monitorPerCam float64, warmup, window time.Duration) {
	r, err := analysisBench(clip, n, warmup, window)
	if err != nil {
		failed(add, "camera analysis", err)
		return
	}
	base := fmt.Sprintf("%.3f CPU s (ffmpeg alone decoding the same clip, every frame, 1 thread: %.0f cameras)", r.bareFFmpeg, r.fitBare)
	if monitorPerCam > 0 {
		base += fmt.Sprintf("; monitor alone %.3f", monitorPerCam)
	}
	add(row{fmt.Sprintf("camera analysis cost per camera-second: %d simulated %s cameras through cameras.Monitor + analyze.Analyzer at the default %g analysed fps (ours + ffmpeg decoders; simulator on the same machine); slowest camera %.1f analysed fps",
		n, clip, r.analysisFPS, r.rep.AnalysedFPS),
		fmt.Sprintf("%.3f CPU s (%.3f ours + %.3f ffmpeg) → %.0f analysed cameras fit on %d cores", r.perCam, r.ours, r.ffmpeg, r.fit, runtime.NumCPU()),
		base, ratio(r.perCam, r.bareFFmpeg), "≥16 analysed cameras"})
}

func exitOnFailures() {
	if failures > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d measurement(s) failed\n", failures)
		os.Exit(1)
	}
}

func uiRows(add func(row), devices, cams, clients int, window time.Duration, loads int, skipSSE bool) {
	e, err := startUIEnv(devices, cams)
	if err != nil {
		failed(add, "SSE fan-out and site page", err)
		return
	}
	defer e.close()
	scene := fmt.Sprintf("%d devices at 1 msg/s, %d cameras", devices, cams)
	if !skipSSE {
		sseRows(add, e, clients, window, scene)
	}
	const pwhat = "site page in headless chromium"
	p, err := measurePage(e.r.base, e.user, e.password, loads)
	if err != nil {
		failed(add, pwhat, err)
		return
	}
	add(row{fmt.Sprintf("site page first-contentful-paint (%d sensor tiles, %d cameras; median of %d loads, cache off)", devices, cams, loads),
		fmt.Sprintf("%.0f ms", p.siteFCP), fmt.Sprintf("%.0f ms (the static /login page, same browser)", p.loginFCP),
		ratio(p.siteFCP, p.loginFCP), ""})
	add(row{"site page: navigation → first sensor tile showing a value (median)", fmt.Sprintf("%.0f ms", p.siteTile),
		fmt.Sprintf("%.0f ms (the same loads' first-contentful-paint)", p.siteFCP), fmt.Sprintf("+%.0f ms", p.siteTile-p.siteFCP), ""})
	lighthouseRows(add, e, loads)
}

// sseRows adds the SSE fan-out rows.
func sseRows(add func(row), e *uiEnv, clients int, window time.Duration, scene string) {
	f, err := measureSSE(e, clients, window)
	if err != nil {
		failed(add, "SSE fan-out", err)
		return
	}
	secs := f.cw.window.Seconds()
	total, perClient := float64(f.cw.events)/secs, float64(f.cw.events)/secs/float64(clients)
	cwCPU, bareCPU := max(f.cw.cpu-f.floor, 0), max(f.bare.cpu-f.floor, 0)
	add(row{fmt.Sprintf("SSE fan-out: %d clients on /api/events (admin token), %s; events delivered, process CPU (server and readers) above the floor of %.2f cores with no stream open", clients, scene, f.floor),
		fmt.Sprintf("%.0f events/s (%.0f/s per client, %.1f MiB/s data), %.2f cores: +%.2f, %.2f ms CPU per client-second", total, perClient,
			float64(f.cw.bytes)/secs/(1<<20), f.cw.cpu, cwCPU, cwCPU*1000/float64(clients)),
		fmt.Sprintf("%.0f events/s, +%.2f cores (bare net/http SSE handler writing the recorded batches once a second, no bus)", float64(f.bare.events)/secs, bareCPU),
		ratio(cwCPU, bareCPU), ""})
	devPerClient := float64(f.cw.byKind["device"]) / secs / float64(clients)
	add(row{"SSE batching per client: device events/s and batches/s, against device messages/s published",
		fmt.Sprintf("%.0f device events/s (+%.0f camera, %.0f alert) in %.2f batches/s", devPerClient,
			float64(f.cw.byKind["camera"])/secs/float64(clients), float64(f.cw.byKind["alert"])/secs/float64(clients),
			float64(f.cw.batches)/secs/float64(clients)),
		fmt.Sprintf("%.0f device msgs/s published", f.cw.published), ratio(devPerClient, f.cw.published),
		"≤ 1 event per thing per second, 1 batch/s"})
}
