package main_test

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"citywatch/internal/testenv"
)

// rssBudget is the resident memory the serve process must stay under while viewers send hostile queries: the
// 1 GiB query memory budget of docs/configuration.md plus what citywatch holds anyway, with margin.
const rssBudget = 1 << 30

// hostileQueries are what a viewer token sent to take the process to 4 GiB: a subquery at 50 ms resolution
// over an hour of every series. heavyQuery is allowed by the default budgets (720,000 samples, under
// max_samples) but expensive, so the viewer's slots are really busy and the API is not just answering 400s.
var hostileQueries = []string{
	`count_over_time({__name__=~".+"}[1h:50ms])`,
	`sum_over_time({__name__=~".+"}[1h:10ms])`,
	`max_over_time(count_over_time({__name__=~".+"}[1h:100ms])[1h:100ms])`,
}

const heavyQuery = `count_over_time({__name__=~".+"}[30m:1s])`

// TestQueryBudgetUnderHostileLoad loads 400 series with an hour of history, has nine clients of one viewer
// token hammer the Prometheus API with hostile and heavy queries, and publishes a fever reading meanwhile: the
// fever alert must fire, another principal's query must still be answered, every query must end with a
// Prometheus JSON answer, and the process's RSS (sampled from /proc/<pid>/status) must stay under rssBudget. The binary is built without -race here: the race detector's
// shadow memory would make an RSS bound meaningless.
//
// It does not run beside the package's other tests (e2e): it loads the machine itself and bounds what the
// process does under that load, which other tests' processes would change.
func TestQueryBudgetUnderHostileLoad(t *testing.T) {
	needBinary(t)
	if testing.Short() {
		t.Skip("end-to-end load test")
	}
	bin := plainBinary(t)
	// A request rate any machine's loops exceed: with the defaults (20/s after a burst of 100) a loaded one
	// answered 81 requests in the whole load and the rate limit was never reached (make stress).
	cw := newServe(t, withRules(feverRules("        for: 1s\n")), withAlerts(),
		withHTTP("query:", "  rate_per_client: 2", "  burst_per_client: 10"))
	base := cw.base()
	p := &proc{Process: testenv.StartProcess(t, bin, []string{"CITYWATCH_ADMIN_TOKEN=" + adminToken}, "serve", "--config", cw.config), t: t}
	waitReady(t, p, base)
	viewer := createViewerToken(t, base)

	// 400 series with a sample every 5 minutes over the last 50 minutes: with the 5-minute lookback every
	// step of an hour-long subquery sees every series.
	const devices, samples = 400, 11
	c := mqttClient(t, cw.broker(), "e2e-load")
	now := time.Now()
	for i := range devices {
		for j := range samples {
			ts := now.Add(-50*time.Minute + time.Duration(j)*5*time.Minute).UnixMilli()
			tok := c.Publish(fmt.Sprintf("city/d1/site-%d/dev-%d", i%20, i), 1, false, fmt.Sprintf(`{"noise":%d,"ts":%d}`, 40+j, ts))
			if j == samples-1 && !tok.WaitTimeout(15*time.Second) {
				t.Fatalf("publish for dev-%d timed out", i)
			}
		}
	}
	eventually(t, 60*time.Second, func() string {
		var r promResult
		code, err := getJSON(base, "/api/v1/query?query="+url.QueryEscape(`sum(count_over_time(noise[1h]))`), &r)
		if err != nil || code != 200 || len(r.Data.Result) != 1 {
			return fmt.Sprintf("count: %d %v %+v", code, err, r)
		}
		if got := fmt.Sprint(r.Data.Result[0].Value[1]); got != strconv.Itoa(devices*samples) {
			return fmt.Sprintf("%s samples stored, want %d", got, devices*samples)
		}
		return ""
	})

	pid := p.Cmd.Process.Pid
	idle := readRSS(t, pid)
	// The sampler keeps the peak and kills the process the moment it passes the budget, so a regression fails
	// fast instead of taking the machine's memory.
	var peak atomic.Int64
	samplerDone := make(chan struct{})
	stopSampler := make(chan struct{})
	go func() {
		defer close(samplerDone)
		for {
			rss, err := procStatus(pid, "VmRSS")
			if err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			if rss > rssBudget {
				_ = p.Cmd.Process.Kill()
				return
			}
			select {
			case <-stopSampler:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var answered atomic.Int64
	var codesMu sync.Mutex
	codes := map[string]int{}
	for w := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				q := heavyQuery
				if w%3 == 0 {
					q = hostileQueries[(w/3+i)%len(hostileQueries)]
				}
				code, typ, err := viewerQuery(ctx, base, viewer, q)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					t.Errorf("query %q: %v", q, err)
					return
				}
				answered.Add(1)
				codesMu.Lock()
				codes[fmt.Sprintf("%d %s", code, typ)]++
				codesMu.Unlock()
			}
		}()
	}
	stopLoad := func() {
		cancel()
		wg.Wait()
		close(stopSampler)
		<-samplerDone
	}
	defer func() {
		if ctx.Err() == nil {
			stopLoad()
		}
	}()

	fever := mqttClient(t, cw.broker(), "e2e-fever")
	fired := false
	eventually(t, 90*time.Second, func() string {
		if peak.Load() > rssBudget {
			t.Fatalf("RSS passed %d MiB under hostile queries (idle %d MiB); the process was killed", rssBudget>>20, idle>>20)
		}
		publish(t, fever, "city/central/q-hotel-1/wearable-001", 1, `{"body_temperature":39.2}`)
		if !fired {
			var list struct {
				Alerts []struct {
					Rule string `json:"rule"`
				} `json:"alerts"`
			}
			if code, err := getJSON(base, "/api/alerts?state=firing", &list); err == nil && code == 200 && len(list.Alerts) > 0 {
				fired = true
			}
		}
		switch {
		case !fired:
			return "fever alert not firing"
		case answered.Load() < 60:
			return fmt.Sprintf("only %d hostile queries answered", answered.Load())
		}
		return ""
	})
	// The viewer holds at most a quarter of the slots (max_concurrent_per_client): another principal gets one.
	query(t, base, `count(noise)`)
	stopLoad()
	if peak.Load() > rssBudget {
		t.Fatalf("RSS peak %d MiB > %d MiB", peak.Load()>>20, rssBudget>>20)
	}
	t.Logf("RSS idle %d MiB, peak %d MiB under load; %d answers: %v", idle>>20, peak.Load()>>20, answered.Load(), codes)
	// The hostile [1h:50ms] subqueries are refused, not run.
	if codes["400 bad_data"] == 0 {
		t.Errorf("no hostile query was refused with 400 bad_data: %v", codes)
	}
	// The viewer's loops ran into its request rate (http.query.rate_per_client) too.
	if codes["429 unavailable"] == 0 {
		t.Errorf("no hostile request was refused with 429 by the rate limit: %v", codes)
	}
	// Once the load ends, a viewer's normal query is answered as soon as its rate allows (Retry-After: 1 s).
	eventually(t, 10*time.Second, func() string {
		code, typ, err := viewerQuery(context.Background(), base, viewer, `count(noise)`)
		if err != nil || code != 200 {
			return fmt.Sprintf("normal query after the load: %d %s %v", code, typ, err)
		}
		return ""
	})
}

// createViewerToken creates a viewer token for every site through the API and returns its secret.
func createViewerToken(t *testing.T, base string) string {
	t.Helper()
	var created struct {
		Secret string `json:"token"`
	}
	if code := send(t, "POST", base+"/api/tokens", `{"name":"e2e-viewer","role":"viewer","sites":["*"]}`, &created); code != http.StatusCreated || created.Secret == "" {
		t.Fatalf("create viewer token: %d", code)
	}
	return created.Secret
}

// viewerQuery runs an instant query with token and returns the status code and Prometheus error type; err is
// set when the answer is not Prometheus' JSON envelope.
func viewerQuery(ctx context.Context, base, token, q string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	var env struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || (env.Status != "success" && env.Status != "error") {
		return resp.StatusCode, "", fmt.Errorf("not a Prometheus answer: %d %q", resp.StatusCode, body)
	}
	if env.Status == "error" && resp.StatusCode == http.StatusServiceUnavailable && env.ErrorType == "unavailable" && resp.Header.Get("Retry-After") == "" {
		return resp.StatusCode, env.ErrorType, fmt.Errorf("503 unavailable without Retry-After: %s", body)
	}
	return resp.StatusCode, env.ErrorType, nil
}

// readRSS returns the process's resident set size in bytes.
func readRSS(t *testing.T, pid int) int64 {
	t.Helper()
	v, err := procStatus(pid, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// procStatus reads a "kB" field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}
