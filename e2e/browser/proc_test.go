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
// It marks the test parallel (call it once per test): a demo test spends most of its time waiting for the
// demo's real-time schedule (a flapping camera takes three 90 s fault periods), so demo tests run side by
// side, -parallel at a time (GOMAXPROCS by default), each with its own demo and its own browser context.
func startDemo(t *testing.T, bin string, extra ...string) *demo {
	t.Helper()
	t.Parallel()
	return launchDemo(t, bin, extra...)
}

// launchDemo is startDemo without marking the test parallel.
func launchDemo(t *testing.T, bin string, extra ...string) *demo {
	t.Helper()
	httpAddr := testenv.FreePort(t)
	d := &demo{t: t, base: "http://" + httpAddr}
	args := append([]string{"demo", "--data", t.TempDir(), "--http", httpAddr, "--mqtt", testenv.FreePort(t),
		"--rtsp", testenv.FreePort(t), "--offline-map"}, extra...)
	d.Process = testenv.StartProcess(t, bin, []string{"CITYWATCH_ADMIN_TOKEN=" + adminToken}, args...)
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
	return d
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
