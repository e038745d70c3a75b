package app

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/internal/sqlitedb"
	"citywatch/internal/testenv"
)

// metaDescriptors counts this process's descriptors on the metadata database and its -wal and -shm files.
func metaDescriptors(path string) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue
		}
		switch strings.TrimSuffix(target, " (deleted)") {
		case path, path + "-wal", path + "-shm":
			n++
		}
	}
	return n
}

// TestMetadataDescriptorsBounded reproduces 1,962 descriptors left open on citywatch.db after heavy API load
// and 2,000 SSE clients: the whole app (auth, audit, deliveries, the live stream) shares one bounded pool, so
// 200 concurrent users reading and writing leave no more than the pool's descriptors once they are gone.
func TestMetadataDescriptorsBounded(t *testing.T) {
	dir := t.TempDir()
	const token = "app-test-admin-token-0123456789"
	cfg := testConfig(t, dir)
	// 200 users from one loopback address: raise the per-address connection cap (64 by default, which would
	// close idle keep-alives under the client's feet) so this test measures descriptors, not connection limits.
	cfg.HTTP.Limits.MaxConnectionsPerAddress = cfg.HTTP.Limits.MaxConnections
	a := runApp(t, cfg, Options{PasswordHashing: testHashing, AdminToken: token})
	path := filepath.Join(dir, "citywatch.db")
	if metaDescriptors(path) <= 0 {
		if testenv.InCI() {
			t.Fatal("no /proc/self/fd to count descriptors in: CI runs on Linux, where it must exist")
		}
		t.Skip("no /proc/self/fd to count descriptors in")
	}
	base := "http://" + a.HTTPAddr()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	defer client.CloseIdleConnections()
	call := func(method, p, body string) error {
		req, err := http.NewRequest(method, base+p, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %d", method, p, resp.StatusCode)
		}
		return nil
	}

	const users = 200
	errs := make(chan error, users)
	var wg sync.WaitGroup
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch i % 4 {
			case 0:
				err = call("POST", "/api/tokens", fmt.Sprintf(`{"name":"load-%d","role":"viewer","sites":["*"]}`, i))
			case 1:
				err = call("GET", "/api/audit?limit=100", "")
			case 2:
				err = call("GET", "/api/deliveries", "")
			default:
				err = call("GET", "/api/tokens", "")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	bound := 3*sqlitedb.MaxConns + 1
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.LessOrEqual(c, metaDescriptors(path), bound, "descriptors on %s after the users left", path)
	}, 10*time.Second, 50*time.Millisecond)
}
