package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"citywatch/app"
)

// The centre row: a 1 h × 1,000-series range query (step 15 s: 240 points per series, 240,000 in all) sent
// through a centre citywatch (storage.query → VictoriaMetrics) and straight to the same VictoriaMetrics,
// alternating, so both see the same engine, caches and machine. Goal: overhead ≤ 20 % (median).

const (
	centreSeries = 1000
	centreStep   = 15 * time.Second
	centreRounds = 30
)

const centreConfig = appConfigHead + noMQTTNotify + `storage:
  query:
    url: %[4]s
`

func centreRows(add func(row)) {
	const what = "centre: range query 1 h × 1,000 series (step 15 s, 240 k points) through the centre (storage.query → VictoriaMetrics) vs straight to VictoriaMetrics, median of %d"
	w := fmt.Sprintf(what, centreRounds)
	r, err := centreQuery()
	if err != nil {
		failed(add, w, err)
		return
	}
	add(row{w, ms(r.centre), ms(r.direct) + " (VictoriaMetrics)",
		fmt.Sprintf("%+.0f %%", 100*(float64(r.centre)/float64(r.direct)-1)), "≤ +20 %"})
	add(row{"centre: the same query as a site-limited user (rewritten to 1 site, 100 series), median", ms(r.scoped),
		ms(r.scopedDirect) + " (VictoriaMetrics, same selector)",
		fmt.Sprintf("%+.0f %% (%+.1f ms)", 100*(float64(r.scoped)/float64(r.scopedDirect)-1), float64(r.scoped-r.scopedDirect)/float64(time.Millisecond)),
		"none: shows the fixed cost per request (token check, parse, rewrite, one more hop)"})
}

type centreResult struct{ centre, direct, scoped, scopedDirect time.Duration }

func centreQuery() (centreResult, error) {
	var res centreResult
	bin, err := benchBinary("victoria-metrics")
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "citywatch-bench-vm-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	addr := "127.0.0.1:" + strconv.Itoa(freePort())
	vm := exec.Command(bin, "-httpListenAddr="+addr, "-storageDataPath="+dir, "-search.latencyOffset=0s", "-loggerLevel=ERROR")
	if err := vm.Start(); err != nil {
		return res, err
	}
	defer func() { _ = vm.Process.Kill(); _ = vm.Wait() }()
	vmURL := "http://" + addr
	if err := waitHTTP(vmURL+"/health", 30*time.Second); err != nil {
		return res, err
	}
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-time.Hour)
	if err := centreLoad(vmURL, start, end); err != nil {
		return res, err
	}
	a, err := startAppWith(strings.ReplaceAll(centreConfig, "%[4]s", vmURL), "groups: []\n", app.Options{})
	if err != nil {
		return res, err
	}
	defer a.stop()
	staff, err := createToken(a.base, `{"name":"bench-staff","role":"health_staff","sites":["site-3"]}`)
	if err != nil {
		return res, err
	}
	form := func(q string) url.Values {
		return url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)},
			"step": {strconv.Itoa(int(centreStep.Seconds()))}}
	}
	var centre, direct, scoped, scopedDirect []time.Duration
	for i := 0; i < centreRounds+2; i++ { // two warm-up rounds
		c, err := timedPost(a.base+"/api/v1/query_range", benchToken, form(`bench_value`), centreSeries)
		if err != nil {
			return res, fmt.Errorf("through the centre: %w", err)
		}
		d, err := timedPost(vmURL+"/api/v1/query_range", "", form(`bench_value`), centreSeries)
		if err != nil {
			return res, fmt.Errorf("straight to VictoriaMetrics: %w", err)
		}
		s, err := timedPost(a.base+"/api/v1/query_range", staff, form(`bench_value`), centreSeries/10)
		if err != nil {
			return res, fmt.Errorf("site-limited, through the centre: %w", err)
		}
		sd, err := timedPost(vmURL+"/api/v1/query_range", "", form(`bench_value{site!="",site=~"site-3"}`), centreSeries/10)
		if err != nil {
			return res, fmt.Errorf("site-limited, straight to VictoriaMetrics: %w", err)
		}
		if i >= 2 {
			centre, direct, scoped, scopedDirect = append(centre, c), append(direct, d), append(scoped, s), append(scopedDirect, sd)
		}
	}
	return centreResult{percentile(centre, 50), percentile(direct, 50), percentile(scoped, 50), percentile(scopedDirect, 50)}, nil
}

// centreLoad imports centreSeries series of bench_value (10 sites) every centreStep over [start, end], as
// the edges' remote write would have delivered them, and waits until VictoriaMetrics finds them all.
func centreLoad(vmURL string, start, end time.Time) error {
	var b bytes.Buffer
	for i := 0; i < centreSeries; i++ {
		for t := start; !t.After(end); t = t.Add(centreStep) {
			fmt.Fprintf(&b, "bench_value{edge=\"edge-%d\",site=\"site-%d\",device=\"d-%d\"} %d %d\n", i%10, i%10, i, i, t.UnixMilli())
		}
	}
	resp, err := http.Post(vmURL+"/api/v1/import/prometheus", "text/plain", &b)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("import: %s", resp.Status)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(vmURL + "/internal/force_flush"); err == nil {
			resp.Body.Close()
		}
		n, err := countSeries(vmURL)
		if err == nil && n >= centreSeries {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("VictoriaMetrics shows %d of %d series: %v", n, centreSeries, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countSeries(vmURL string) (int, error) {
	resp, err := http.Get(vmURL + "/api/v1/series/count")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	s := string(body)
	i := strings.Index(s, "[")
	j := strings.Index(s, "]")
	if i < 0 || j < i {
		return 0, fmt.Errorf("series count: %s", s)
	}
	return strconv.Atoi(strings.TrimSpace(s[i+1 : j]))
}

// timedPost POSTs a range query and returns how long the whole answer took, checking it holds want series.
func timedPost(u, token string, form url.Values, want int) (time.Duration, error) {
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	t0 := time.Now()
	resp, err := apiClient.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%d: %.200s", resp.StatusCode, body)
	}
	if n := bytes.Count(body, []byte(`"metric":`)); n != want {
		return 0, fmt.Errorf("%d series, want %d", n, want)
	}
	return d, nil
}

// createToken creates an API token (body: its JSON request) with the bench's admin token on the citywatch at
// base and returns its secret.
func createToken(base, body string) (string, error) {
	resp, err := benchRequest("POST", base+"/api/tokens", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		return "", fmt.Errorf("create token: %d %v", resp.StatusCode, err)
	}
	return tok.Token, nil
}

func waitHTTP(u string, timeout time.Duration) error { return waitStatus(u, http.StatusOK, timeout) }
