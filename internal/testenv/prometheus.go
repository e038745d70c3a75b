package testenv

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PrometheusServer is a Prometheus child process (prometheus, built by scripts/install-test-deps.sh) on a free
// loopback port with its TSDB in a temporary directory, no scrape targets, and the remote-write receiver
// enabled (remote write 1.0 and 2.0).
type PrometheusServer struct {
	// URL is the HTTP base URL, e.g. http://127.0.0.1:38123.
	URL string
	// WriteURL is the remote-write URL (URL + /api/v1/write).
	WriteURL string
	// Dir holds the configuration, the TSDB and the log file.
	Dir string

	*childServer
}

// Prometheus starts prometheus --web.enable-remote-write-receiver and stops it in t.Cleanup. It fails the test
// when the server does not become ready, and when the binary is missing in CI (skips elsewhere).
func Prometheus(t testing.TB) *PrometheusServer {
	t.Helper()
	bin := LookPath(t, "prometheus")
	dir := t.TempDir()
	addr := FreePort(t)
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte("global:\n  scrape_interval: 1m\n"), 0o600); err != nil {
		t.Fatalf("prometheus config: %v", err)
	}
	p := &PrometheusServer{URL: "http://" + addr, WriteURL: "http://" + addr + "/api/v1/write", Dir: dir}
	p.childServer = startChild(t, "prometheus", bin, dir, p.URL+"/-/ready",
		"--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver", "--log.level=warn")
	return p
}

// PromSeries is one series of a query answer: its labels and its samples (one for a vector, all in the range
// for a matrix).
type PromSeries struct {
	Metric map[string]string
	Values []float64
	Times  []int64 // Unix milliseconds
}

// Query runs an instant query at time at (zero: now) against /api/v1/query and returns its vector or matrix.
// A range selector such as `x[1h]` returns every raw sample.
func (p *PrometheusServer) Query(q string, at time.Time) ([]PromSeries, error) {
	v := url.Values{"query": {q}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	body, err := getBody(p.URL + "/api/v1/query?" + v.Encode())
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, r.Error)
	}
	var out []PromSeries
	for _, res := range r.Data.Result {
		s := PromSeries{Metric: res.Metric}
		pts := res.Values
		if r.Data.ResultType == "vector" {
			pts = [][2]any{res.Value}
		}
		for _, pt := range pts {
			ts, _ := pt[0].(float64)
			str, _ := pt[1].(string)
			f, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("query %q: value %v: %w", q, pt[1], err)
			}
			s.Values = append(s.Values, f)
			s.Times = append(s.Times, int64(ts*1000+0.5))
		}
		out = append(out, s)
	}
	return out, nil
}
