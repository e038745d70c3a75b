package main

// The scale rows measure `citywatch serve` at a number of active series (devices × 6 fields), as users run it:
// the steady ingest rate once every series exists (against the same at 1,000 series), the process's resident
// memory per series and the Go heap behind it, a one-site range query over HTTP while every series is in the
// head, and the cold start after SIGKILL (write-ahead log replayed, device registry restored).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"citywatch/internal/testenv"
)

// scaleFields is the number of fields (series) per device of the scale rows.
const scaleFields = 6

// scaleQueryRounds is how many times the one-site range query runs (after one warm-up); the median is the figure.
const scaleQueryRounds = 5

// scaleFigures are what one scale run measured.
type scaleFigures struct {
	perSec      float64
	cpuPerMsg   time.Duration // serve's CPU (user + system) over the steady phase per message: the rate's cost, whatever the machine's load
	rss, idle   int64
	heapInuse   float64 // go_memstats_heap_inuse_bytes after the steady phase
	heapGoal    float64 // go_memstats_next_gc_bytes at the same time
	query       time.Duration
	querySeries int
	ready       time.Duration // exec → /readyz 200 after SIGKILL
	readyCPU    time.Duration // serve's CPU (user + system) from exec to /readyz 200 after SIGKILL
	readyPeak   int64         // serve's peak RSS (VmHWM) from exec to /readyz 200 after SIGKILL
	firstIngest time.Duration // exec → first message counted after SIGKILL
	replayed    float64       // head series after the restart
}

// seriesRows measures `citywatch serve` at a number of series (devices × 6 fields): the steady ingest rate
// once every series exists, against the same at 1,000 series, the process's resident memory per series, a
// one-site 1 h range query and the cold start after SIGKILL.
func seriesRows(add func(row), seriesList []int, procs int) {
	base, err := scaleRun(1000, procs, false)
	if err != nil {
		failed(add, "steady ingest at 1,000 series", err)
		return
	}
	for _, series := range seriesList {
		f, err := scaleRun(series, procs, true)
		devices := max(series/scaleFields, 1)
		what := fmt.Sprintf("`citywatch serve` at %d active series (%d devices × 6 fields, QoS 1, %d publisher processes)", series, devices, procs)
		if err != nil {
			failed(add, what, err)
			continue
		}
		add(row{what + ": steady ingest rate", rate(f.perSec), rate(base.perSec) + " (same at 1,000 series)", ratio(f.perSec, base.perSec), "≥0.8× at 1M series"})
		add(row{what + ": serve's CPU per message over the steady phase (user + system, /proc; its background work included)",
			fmt.Sprintf("%.1f µs", float64(f.cpuPerMsg)/float64(time.Microsecond)),
			fmt.Sprintf("%.1f µs (same at 1,000 series)", float64(base.cpuPerMsg)/float64(time.Microsecond)),
			ratio(float64(base.cpuPerMsg), float64(f.cpuPerMsg)), "≥0.8× at 1M series (as the rate)"})
		add(row{what + ": process RSS per series", fmt.Sprintf("%.2f KiB (RSS %.0f MiB; Go heap in use %.0f MiB, next GC at %.0f MiB)",
			float64(f.rss)/float64(series)/1024, float64(f.rss)/(1<<20), f.heapInuse/(1<<20), f.heapGoal/(1<<20)),
			fmt.Sprintf("idle serve %.0f MiB; (RSS − idle)/series %.2f KiB", float64(f.idle)/(1<<20), float64(f.rss-f.idle)/float64(series)/1024), "", "≤1.5 KiB"})
		add(row{fmt.Sprintf("%s: one site's range query over HTTP, `temperature{site=\"site7\"}` (%d series) 1 h step 15 s, median of %d",
			what, f.querySeries, scaleQueryRounds), f.query.Round(time.Millisecond).String(), "", "", "≤200 ms at 1M series"})
		add(row{what + ": cold start after SIGKILL, exec → /readyz 200 (write-ahead log replayed) / → first message counted",
			fmt.Sprintf("%s / %s (%.0f head series after replay)", f.ready.Round(time.Millisecond), f.firstIngest.Round(time.Millisecond), f.replayed),
			fmt.Sprintf("serve's CPU to /readyz %.1f s, peak RSS %.0f MiB", f.readyCPU.Seconds(), float64(f.readyPeak)/(1<<20)), "", "≤10 s at 1M series"})
	}
}

// scaleRun starts serve, creates every series with one QoS 1 message per device, then measures the steady
// rate over at least 200,000 more messages and the memory; full adds the range query and the cold start.
func scaleRun(series, procs int, full bool) (f scaleFigures, err error) {
	devices := max(series/scaleFields, 1)
	s, err := startServe(fmt.Sprintf(embeddedServeConfig, "%[1]s", "%[2]s", "%[3]s", max(devices, 100000)))
	if err != nil {
		return f, err
	}
	defer s.stop()
	if f.idle, err = s.rss(); err != nil {
		return f, err
	}
	count := serveCount(s, "embedded")
	// Create every series: one message per device.
	if _, err := timedDelivery(count, s.mqtt, devices/procs*procs+procs, procs, devices, scaleFields, 1); err != nil {
		return f, err
	}
	// Steady: every device again, at least 200,000 messages.
	steadyProfile := s.serveProfile(series, "steady-cpu", cpuProfilePath(20*time.Second))
	cpu0, err := testenv.ProcessCPU(s.cmd.Process.Pid)
	if err != nil {
		return f, err
	}
	steady := max(200000, devices) / procs * procs
	if f.perSec, err = timedDelivery(count, s.mqtt, steady, procs, devices, scaleFields, 1); err != nil {
		return f, err
	}
	cpu1, err := testenv.ProcessCPU(s.cmd.Process.Pid)
	if err != nil {
		return f, err
	}
	f.cpuPerMsg = (cpu1 - cpu0) / time.Duration(steady)
	if err := s.serveProfile(series, "steady-heap", "heap")(); err != nil {
		return f, err
	}
	if err := steadyProfile(); err != nil {
		return f, err
	}
	head, err := s.metric("citywatch_tsdb_head_series", "")
	if err != nil {
		return f, err
	}
	if int(head) < devices*scaleFields {
		return f, fmt.Errorf("head has %.0f series, want ≥ %d", head, devices*scaleFields)
	}
	if f.rss, err = s.rss(); err != nil {
		return f, err
	}
	if f.heapInuse, err = s.metric("go_memstats_heap_inuse_bytes", ""); err != nil {
		return f, err
	}
	if f.heapGoal, err = s.metric("go_memstats_next_gc_bytes", ""); err != nil {
		return f, err
	}
	if !full {
		return f, nil
	}
	if f.query, f.querySeries, err = siteRangeQuery(s.base, `temperature{site="site7"}`); err != nil {
		return f, err
	}
	if s.pprof != "" {
		// The query looped under a CPU profile of its own (the figure above is measured without it).
		wait := s.serveProfile(series, "query-cpu", cpuProfilePath(5*time.Second))
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
			if _, _, err := siteRangeQuery(s.base, `temperature{site="site7"}`); err != nil {
				return f, err
			}
		}
		if err := wait(); err != nil {
			return f, err
		}
	}
	s.series = series
	if f.ready, f.readyCPU, f.readyPeak, f.firstIngest, err = s.coldStart(); err != nil {
		return f, err
	}
	if f.replayed, err = s.metric("citywatch_tsdb_head_series", ""); err != nil {
		return f, err
	}
	if int(f.replayed) < devices*scaleFields {
		return f, fmt.Errorf("after SIGKILL the head has %.0f series, want ≥ %d: the write-ahead log was not replayed", f.replayed, devices*scaleFields)
	}
	return f, nil
}

// siteRangeQuery runs expr over the last hour at a 15 s step through /api/v1/query_range (admin token), once to
// warm up and then scaleQueryRounds times, and returns the median time and the number of series returned.
func siteRangeQuery(base, expr string) (time.Duration, int, error) {
	var times []time.Duration
	n := 0
	for round := range scaleQueryRounds + 1 {
		end := time.Now()
		q := url.Values{"query": {expr}, "start": {strconv.FormatInt(end.Add(-time.Hour).Unix(), 10)},
			"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"15s"}}
		req, err := http.NewRequest("GET", base+"/api/v1/query_range?"+q.Encode(), nil)
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+benchToken)
		t0 := time.Now()
		resp, err := apiClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		var body struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		d := time.Since(t0)
		if err != nil || body.Status != "success" {
			return 0, 0, fmt.Errorf("range query %s: %s %v %s", expr, resp.Status, err, body.Error)
		}
		n = len(body.Data.Result)
		if round > 0 {
			times = append(times, d)
		}
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("range query %s returned no series", expr)
	}
	slices.Sort(times)
	return times[len(times)/2], n, nil
}

// coldStart kills serve with SIGKILL and starts it again on the same configuration and data directory. It
// returns the time from exec until /readyz answers 200, serve's CPU and peak RSS by then, and the time until a
// message published once it is ready has been counted.
func (s *serveProc) coldStart() (ready, readyCPU time.Duration, readyPeak int64, firstIngest time.Duration, err error) {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	bin, err := citywatchBinary()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "citywatch.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, s.serveArgs(filepath.Join(s.dir, "citywatch.yaml"))...)
	cmd.Env = append(os.Environ(), "CITYWATCH_ADMIN_TOKEN="+benchToken)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, 0, err
	}
	s.cmd = cmd
	wait := func() error { return nil }
	if s.pprof != "" {
		// The profile of the restart starts as soon as serve's pprof listener answers (before the TSDB opens).
		if err := pollStatus("http://"+s.pprof+"/debug/pprof/cmdline", http.StatusOK, time.Minute, time.Millisecond); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("restart after SIGKILL: pprof: %w", err)
		}
		wait = s.serveProfile(s.series, "coldstart-cpu", cpuProfilePath(40*time.Second))
	}
	// Polled every 5 ms: the figure is the wait itself.
	if err := pollStatus(s.base+"/readyz", http.StatusOK, 2*time.Minute, 5*time.Millisecond); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("restart after SIGKILL: %w", err)
	}
	ready = time.Since(start)
	if readyCPU, err = testenv.ProcessCPU(cmd.Process.Pid); err != nil {
		return 0, 0, 0, 0, err
	}
	if readyPeak, err = procPeakRSS(cmd.Process.Pid); err != nil {
		return 0, 0, 0, 0, err
	}
	p, err := dialRaw(s.mqtt, "bench-coldstart", true)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer p.close()
	if err := p.publishAll(1, 1, 1, func(int) (string, []byte) { return deviceMessage(7, 1, scaleFields) }); err != nil {
		return 0, 0, 0, 0, err
	}
	count := serveCount(s, "embedded")
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := count()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		if c >= 1 {
			firstIngest = time.Since(start)
			return ready, readyCPU, readyPeak, firstIngest, wait()
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, 0, fmt.Errorf("restart after SIGKILL: no message counted within a minute of /readyz")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
