package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The query budget rows run `citywatch serve` as a child process, so the RSS peak is the server's alone, load
// 400 series with an hour of history, and measure another user's dashboard query (the site page's 15-minute
// chart) idle and while nine clients of one viewer token loop over a query as fast as the answers come back,
// whatever the answer (200, 400, 429 or 503; they ignore Retry-After). Goal: RSS ≤ 1 GiB, the dashboard's
// p99 ≤ 5× idle.

const (
	qbSeries  = 400
	qbSamples = 11 // every 5 minutes over the last 50 minutes
	qbWorkers = 9
	qbNormal  = 200 // dashboard queries per phase
	// qbPace is the interval of the other user's dashboard queries: 10 a second, half of the default
	// http.query.rate_per_client, as a user with a few dashboards open; unpaced, that user would be over its
	// own rate limit and measure 429s.
	qbPace = 100 * time.Millisecond
)

// qbHostile is what took the process to 4 GiB before the budgets: a refused shape now. qbHeavy is allowed
// by the default budget and expensive (400 series × 1,800 points = 720,000 samples), so it really keeps the
// viewer's slots busy. It selects noise alone: with every series ({__name__=~".+"}) citywatch's own metrics,
// stored from its first self-scrape on, push it past max_samples and the row would measure 422s.
const (
	qbHostile = `count_over_time({__name__=~".+"}[1h:50ms])`
	qbHeavy   = `count_over_time(noise[30m:1s])`
)

const qbConfig = appConfigHead + noMQTTNotify

func queryBudgetRows(add func(row)) {
	const what = "query budget: 9 clients of one viewer token looping %s over 400 series × 1 h — serve RSS peak; p99 of another user's dashboard chart query (15 min, step 5 s)"
	for _, q := range []struct{ name, expr string }{{"`[1h:50ms]` (refused shape)", qbHostile}, {"`[30m:1s]` (allowed, 720 k samples)", qbHeavy}} {
		r, err := queryBudgetLoad(q.expr)
		w := fmt.Sprintf(what, q.name)
		if err != nil {
			failed(add, w, err)
			continue
		}
		add(row{w,
			fmt.Sprintf("RSS peak %d MiB; p99 %s (%d of %d answered 200; hostile answers %v)", r.peakRSS>>20, ms(r.loadP99), r.loadOK, qbNormal, r.codes),
			fmt.Sprintf("idle: RSS %d MiB, p99 %s", r.idleRSS>>20, ms(r.idleP99)),
			ratio(r.loadP99.Seconds(), r.idleP99.Seconds()),
			"RSS ≤1 GiB, p99 ≤5× idle"})
	}
}

type qbResult struct {
	idleRSS, peakRSS int64
	idleP99, loadP99 time.Duration
	loadOK           int
	codes            map[string]int
}

// queryBudgetLoad starts citywatch serve, loads the series, and measures as the rows say.
func queryBudgetLoad(hostile string) (qbResult, error) {
	var res qbResult
	dir, err := os.MkdirTemp("", "citywatch-bench-qb-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "citywatch")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/citywatch").CombinedOutput(); err != nil {
		return res, fmt.Errorf("build citywatch: %v: %s", err, out)
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort())
	mqttAddr := "127.0.0.1:" + strconv.Itoa(freePort())
	cfg := filepath.Join(dir, "citywatch.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, qbConfig, filepath.Join(dir, "data"), httpAddr, mqttAddr), 0o600); err != nil {
		return res, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), "CITYWATCH_ADMIN_TOKEN="+benchToken)
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + httpAddr
	if err := waitHTTP(base+"/readyz", 60*time.Second); err != nil {
		return res, err
	}
	viewer, err := createToken(base, `{"name":"bench-viewer","role":"viewer","sites":["*"]}`)
	if err != nil {
		return res, err
	}
	if err := qbLoad(base, mqttAddr); err != nil {
		return res, err
	}
	pid := cmd.Process.Pid
	normal := func() (time.Duration, int, error) {
		end := time.Now()
		form := url.Values{"query": {`{__name__="noise",site="site-1"}`}, "start": {strconv.FormatInt(end.Add(-15*time.Minute).Unix(), 10)},
			"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"5s"}}
		t0 := time.Now()
		code, _, _, err := qbGet(context.Background(), base+"/api/v1/query_range?"+form.Encode(), benchToken)
		return time.Since(t0), code, err
	}
	phase := func() ([]time.Duration, int, error) {
		var ds []time.Duration
		ok := 0
		next := time.Now()
		for range qbNormal {
			time.Sleep(time.Until(next))
			next = next.Add(qbPace)
			d, code, err := normal()
			if err != nil {
				return nil, 0, err
			}
			ds = append(ds, d)
			if code == http.StatusOK {
				ok++
			}
		}
		return ds, ok, nil
	}
	idle, _, err := phase()
	if err != nil {
		return res, err
	}
	res.idleP99 = percentile(idle, 99)
	if res.idleRSS, err = vmRSS(pid); err != nil {
		return res, err
	}

	var peak atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample RSS; kill the server past 3 GiB so a regression cannot take the machine
		defer wg.Done()
		for ctx.Err() == nil {
			if v, err := vmRSS(pid); err == nil && v > peak.Load() {
				peak.Store(v)
				if v > 3<<30 {
					_ = cmd.Process.Kill()
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var mu sync.Mutex
	res.codes = map[string]int{}
	for range qbWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code, typ, _, err := qbGet(ctx, base+"/api/v1/query?query="+url.QueryEscape(hostile), viewer)
				if ctx.Err() != nil {
					return
				}
				k := strconv.Itoa(code) + " " + typ
				if err != nil {
					k = "error"
				}
				mu.Lock()
				res.codes[k]++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(2 * time.Second) // let the workers fill the slots before measuring
	loaded, ok, err := phase()
	cancel()
	wg.Wait()
	if err != nil {
		return res, err
	}
	res.loadP99, res.loadOK, res.peakRSS = percentile(loaded, 99), ok, peak.Load()
	return res, nil
}

// qbLoad publishes qbSamples readings of noise for each of qbSeries devices (20 sites) and waits until the
// query API sees them all.
func qbLoad(base, mqttAddr string) error {
	c, err := mqttConnect(mqttAddr, "bench-qb")
	if err != nil {
		return err
	}
	defer c.Disconnect(100)
	now := time.Now()
	for i := range qbSeries {
		for j := range qbSamples {
			ts := now.Add(-50*time.Minute + time.Duration(j)*5*time.Minute).UnixMilli()
			tok := c.Publish(fmt.Sprintf("city/d1/site-%d/dev-%d", i%20, i), 1, false, fmt.Sprintf(`{"noise":%d,"ts":%d}`, 40+j, ts))
			if j == qbSamples-1 && !tok.WaitTimeout(15*time.Second) {
				return fmt.Errorf("publish timed out")
			}
		}
	}
	want := strconv.Itoa(qbSeries * qbSamples)
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, _, body, err := qbGet(context.Background(), base+"/api/v1/query?query="+url.QueryEscape(`sum(count_over_time(noise[1h]))`), benchToken)
		if err == nil && strings.Contains(body, `"`+want+`"`) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("series not loaded within 60s: %v %s", err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// qbGet sends a GET with token and returns the status code, the Prometheus error type ("" on success) and
// the body.
func qbGet(ctx context.Context, u, token string) (code int, errType, body string, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, "", "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := qbClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	var env struct {
		ErrorType string `json:"errorType"`
	}
	_ = json.Unmarshal(b, &env)
	return resp.StatusCode, env.ErrorType, string(b), err
}

var qbClient = &http.Client{Timeout: 3 * time.Minute}

// vmRSS reads the resident set size of process pid from /proc, in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
