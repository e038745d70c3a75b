package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory for the test. Outside CI a machine that cannot
// mount (not root, no CAP_SYS_ADMIN) skips the test; in CI (CI=true) that is a failure.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0750", size)); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a tmpfs for the full-disk test: %v", err)
		}
		t.Skipf("cannot mount a tmpfs (run as root, or in CI where this fails): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes to path until the filesystem is full (appending: it fills what was freed since).
func fillDisk(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	// Megabytes, then 512-byte writes: the last megabyte may have been cut short at a page boundary.
	for _, n := range []int{len(buf), 512} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					return err
				}
				break
			}
		}
	}
	return nil
}

// readyz is one answer of /readyz.
type readyz struct {
	code   int
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	raw    string
}

func getReadyz(addr, token string) (readyz, error) {
	req, err := http.NewRequest("GET", "http://"+addr+"/readyz", nil)
	if err != nil {
		return readyz{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return readyz{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return readyz{}, err
	}
	r := readyz{code: resp.StatusCode, raw: string(body)}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("%w: %s", err, body)
	}
	return r, nil
}

// TestReadyzFullDisk reproduces /readyz saying ready while the disk was full (token creation answered 500,
// ingest went unacknowledged): the real app on a small tmpfs turns unready within seconds of the disk filling,
// tells an admin why and an anonymous caller only that it is not ready, and turns ready again once space is
// freed.
func TestReadyzFullDisk(t *testing.T) {
	dir := mountTmpfs(t, 64<<20)
	const token = "app-test-admin-token-0123456789"
	a := runApp(t, testConfig(t, filepath.Join(dir, "data")), Options{PasswordHashing: testHashing, AdminToken: token})
	eventuallyReady := func(want int, who string) readyz {
		var last readyz
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			r, err := getReadyz(a.HTTPAddr(), who)
			if assert.NoError(c, err) && assert.Equal(c, want, r.code, "/readyz: %s", r.raw) {
				last = r
			}
		}, 30*time.Second, 50*time.Millisecond)
		return last
	}
	eventuallyReady(http.StatusOK, token)

	// The app frees pages now and then (a probe file removed, a WAL checkpoint): a probe may find room again
	// just after the disk filled, so each poll fills what was freed until both probes report the full disk.
	filler := filepath.Join(dir, "filler")
	var admin readyz
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		if !assert.NoError(c, fillDisk(filler)) {
			return
		}
		r, err := getReadyz(a.HTTPAddr(), token)
		if !assert.NoError(c, err) || !assert.Equal(c, http.StatusServiceUnavailable, r.code, "/readyz: %s", r.raw) {
			return
		}
		assert.Contains(c, r.Checks["data_dir"], "no space left on device", "the reason: %s", r.raw)
		assert.Contains(c, r.Checks["tsdb"], "no space left on device", "the reason: %s", r.raw)
		admin = r
	}, 2*time.Minute, 50*time.Millisecond)
	t.Logf("full disk: %s", admin.raw)
	require.Equal(t, "not ready", admin.Status)

	anon, err := getReadyz(a.HTTPAddr(), "")
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, anon.code)
	require.Equal(t, `{"status":"not ready"}`, strings.TrimSpace(anon.raw), "the public body says only the status")

	require.NoError(t, os.Remove(filler))
	eventuallyReady(http.StatusOK, token)
	anon, err = getReadyz(a.HTTPAddr(), "")
	require.NoError(t, err)
	require.Equal(t, `{"status":"ready"}`, strings.TrimSpace(anon.raw))
}
