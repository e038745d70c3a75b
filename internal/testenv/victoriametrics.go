package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// VMServer is a VictoriaMetrics single-node child process (victoria-metrics, built by
// scripts/install-test-deps.sh) on a free loopback port with its storage in a temporary directory. It accepts
// Prometheus remote write at WriteURL and serves the Prometheus query API at URL.
type VMServer struct {
	// URL is the HTTP base URL, e.g. http://127.0.0.1:38123.
	URL string
	// WriteURL is the remote-write URL (URL + /api/v1/write).
	WriteURL string
	// Dir holds the storage and the log file.
	Dir string

	*childServer
}

// VictoriaMetrics starts victoria-metrics and stops it in t.Cleanup. Queries see samples without the default
// 30 s latency offset and without a result cache. It fails the test when the server does not become ready, and when the binary is
// missing in CI (skips elsewhere).
func VictoriaMetrics(t testing.TB) *VMServer {
	t.Helper()
	bin := LookPath(t, "victoria-metrics")
	dir := t.TempDir()
	addr := FreePort(t)
	v := &VMServer{URL: "http://" + addr, WriteURL: "http://" + addr + "/api/v1/write", Dir: dir}
	v.childServer = startChild(t, "victoria-metrics", bin, dir, v.URL+"/health",
		"-httpListenAddr="+addr, "-storageDataPath="+filepath.Join(dir, "data"),
		"-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN", "-retentionPeriod=100y")
	return v
}

// ExportedSeries is one series of /api/v1/export.
type ExportedSeries struct {
	Metric     map[string]string `json:"metric"`
	Values     []float64         `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// Export flushes recently written samples to searchable storage and returns every raw sample of the series
// matching the selector match (e.g. `{__name__="x"}`), duplicates included.
func (v *VMServer) Export(match string) ([]ExportedSeries, error) {
	if _, err := getBody(v.URL + "/internal/force_flush"); err != nil {
		return nil, fmt.Errorf("force flush: %w", err)
	}
	body, err := getBody(v.URL + "/api/v1/export?" + url.Values{"match[]": {match}}.Encode())
	if err != nil {
		return nil, err
	}
	var out []ExportedSeries
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var s ExportedSeries
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// ImportText imports Prometheus text exposition lines (timestamps in milliseconds) and waits up to a minute
// until an instant query finds at least series series in all. It fails the test on error and must be called
// from the test goroutine.
func (v *VMServer) ImportText(t testing.TB, text string, series int) {
	t.Helper()
	resp, err := http.Post(v.URL+"/api/v1/import/prometheus", "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatalf("victoria-metrics import: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("victoria-metrics import: %s", resp.Status)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := v.seriesCount()
		if err == nil && n >= series {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("victoria-metrics finds %d of %d series (%v)", n, series, err)
		}
		time.Sleep(50 * time.Millisecond) // polling until the import is indexed
	}
}

// seriesCount flushes recently written samples to searchable storage and counts the series an instant query
// finds.
func (v *VMServer) seriesCount() (int, error) {
	if _, err := getBody(v.URL + "/internal/force_flush"); err != nil {
		return 0, fmt.Errorf("force flush: %w", err)
	}
	body, err := getBody(v.URL + "/api/v1/query?" + url.Values{"query": {`{__name__=~".+"}`}}.Encode())
	if err != nil {
		return 0, err
	}
	var r struct {
		Data struct{ Result []json.RawMessage }
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	return len(r.Data.Result), nil
}
