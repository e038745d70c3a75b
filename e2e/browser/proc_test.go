package browser_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"citywatch/internal/testenv"
)

// adminToken is the CITYWATCH_ADMIN_TOKEN the demo gets; API calls made by the test itself carry it.
const adminToken = "browser-e2e-admin-token-0123456789"

// demo is a running `citywatch demo`.
type demo struct {
	*testenv.Process
	t        *testing.T
	base     string // http://127.0.0.1:port
	password string // the admin password the demo printed
	control  string // the camera simulator's fault-injection API (--camera-control), if on
}

// repoRoot is the module root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var loginLine = regexp.MustCompile(`Login:\s+admin / (\S+)`)

// startDemo runs `citywatch demo` on free ports, with extra flags, and waits until it is ready and has
// printed the admin login. The city map draws no tiles (--offline-map): browser tests never reach the internet.
//
// It marks the test parallel (call it once per test): demo tests run side by side, -parallel at a time
// (GOMAXPROCS by default). Most demo tests share one demo instead (sharedAdminDemo, shareddemo_test.go); a
// test starts its own when what it does to the demo would disturb the others (it freezes the server, or
// uses up the demo's one missed ward round).
func startDemo(t *testing.T, bin string, extra ...string) *demo {
	t.Helper()
	t.Parallel()
	ownDemos <- struct{}{}
	t.Cleanup(func() { <-ownDemos }) // after the demo's own cleanup (cleanups run last first): it has stopped
	return launchDemo(t, bin, extra...)
}

// ownDemos holds a place for each demo a test runs of its own (startDemo), beside the shared one: two at a time,
// as when the package ran two tests at a time, so that raising -parallel (ioParallel) lets waiting tests overlap
// without running more demos (six simulated cameras, their analysis and a TSDB each) side by side.
var ownDemos = make(chan struct{}, 2)

// demoArgs are the command-line arguments of a demo with its data in dir, on free ports, with extra flags;
// d is the demo they describe, not started yet.
func demoArgs(t *testing.T, dir string, extra ...string) (d *demo, args []string) {
	t.Helper()
	httpAddr := testenv.FreePort(t)
	d = &demo{t: t, base: "http://" + httpAddr}
	args = append([]string{"demo", "--data", dir, "--http", httpAddr, "--mqtt", testenv.FreePort(t),
		"--rtsp", testenv.FreePort(t), "--offline-map", "--analysis-fps", "1"}, extra...)
	return d, args
}

// demoEnv is the demo's environment: the admin token the tests' API calls carry.
var demoEnv = []string{"CITYWATCH_ADMIN_TOKEN=" + adminToken}

// launchDemo is startDemo without marking the test parallel.
func launchDemo(t *testing.T, bin string, extra ...string) *demo {
	t.Helper()
	d, args := demoArgs(t, t.TempDir(), extra...)
	d.Process = testenv.StartProcess(t, bin, demoEnv, args...)
	d.waitReady(t)
	return d
}

// waitReady waits until the demo answers /readyz and has printed the admin login, which it keeps.
func (d *demo) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 90*time.Second, func() string {
		select {
		case <-d.Done():
			t.Fatalf("citywatch demo exited early: %v\n%s", d.Err(), d.Out.String())
		default:
		}
		if code, err := d.getJSON("/readyz", nil); err != nil || code != http.StatusOK {
			return fmt.Sprintf("/readyz: %d %v", code, err)
		}
		m := loginLine.FindStringSubmatch(d.Out.String())
		if m == nil {
			return "no admin login printed yet"
		}
		d.password = m[1]
		return ""
	})
}

// request sends an API request with the admin bearer token.
func (d *demo) request(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w: %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return resp.StatusCode, nil
}

func (d *demo) getJSON(path string, out any) (int, error) { return d.request("GET", path, nil, out) }

// eventually polls cond until it returns "" or the deadline passes; the last message explains the failure.
func eventually(t *testing.T, within time.Duration, cond func() string) {
	t.Helper()
	testenv.Eventually(t, within, 100*time.Millisecond, cond)
}
