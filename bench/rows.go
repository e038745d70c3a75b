package main

import (
	"fmt"
	"os"
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
	add(row{fmt.Sprintf("InfluxDB 1.8: samples/s through store/influx (disk queue → sender), %d samples in batches of 5,000", samples),
		fmt.Sprintf("%.0f/s", r.queued), fmt.Sprintf("%.0f/s (the client's blocking write API, same batches)", r.direct),
		ratio(r.queued, r.direct), "ratio ≥0.8"})
	add(row{fmt.Sprintf("InfluxDB drain after a %s outage at 5,000 samples/s (%d queued)", outage, r.backlog),
		fmt.Sprintf("%.0f/s, %.1f s", r.drain, r.drainSeconds), fmt.Sprintf("%s of outage", outage),
		fmt.Sprintf("%.1f× real time", r.ratio), "≥5× real time"})
	add(row{"InfluxDB queue disk bytes per sample (line protocol + record framing)", fmt.Sprintf("%.0f B", r.bytesPerSample), "", "", ""})
}

func cameraRows(add func(row), n, from, maxN, detectN int, warmup, window time.Duration) {
	r, err := cameraBench(n, from, maxN, detectN, warmup, window)
	if err != nil {
		failed(add, "cameras", err)
		if r.monitor.CPUCores == 0 {
			return
		}
	}
	if r.monitor.CPUCores > 0 && r.bare.CPUCores > 0 {
		mcpu, bcpu := r.monitor.CPUCores/float64(n), r.bare.CPUCores/float64(n)
		add(row{fmt.Sprintf("camera monitor CPU per camera (%d simulated 640x360 H.264 cameras at 12 fps)", n),
			fmt.Sprintf("%.2f%% of a core", mcpu*100), fmt.Sprintf("%.2f%% (bare gortsplib reader that only depacketizes)", bcpu*100),
			ratio(mcpu, bcpu), "ratio ≤1.25"})
		mrss, brss := float64(r.monitor.RSSDelta)/float64(n)/(1<<20), float64(r.bare.RSSDelta)/float64(n)/(1<<20)
		add(row{"camera monitor RSS per camera", fmt.Sprintf("%.2f MB", mrss), fmt.Sprintf("%.2f MB (bare reader)", brss),
			ratio(mrss, brss), "≤0.5 MB/camera"})
	}
	if len(r.tried) > 0 {
		best := fmt.Sprint(r.maxN)
		if r.maxN >= maxN {
			best = "≥" + best + " (the search cap)"
		}
		add(row{fmt.Sprintf("largest camera count kept in real time (all online, ≥90%% of 12 fps), 0 false offline (tried %d..%d, doubling)", from, maxN),
			best, strings.Join(r.tried, "; "), "", "as many as the machine allows"})
	}
	if r.stallP99 > 0 {
		bound := r.stallTimeout + r.checkI
		add(row{fmt.Sprintf("stall detection across %d cameras (p50 / p99)", detectN), ms(r.stallP50) + " / " + ms(r.stallP99),
			ms(bound) + " (stall_timeout + check interval: the design bound)", ratio(r.stallP99.Seconds(), bound.Seconds()), "≤ bound"})
		add(row{fmt.Sprintf("disconnect detection across %d cameras (p50 / p99)", detectN), ms(r.discP50) + " / " + ms(r.discP99),
			"", "", "immediate (session closed)"})
	}
}

func exitOnFailures() {
	if failures > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d measurement(s) failed\n", failures)
		os.Exit(1)
	}
}
