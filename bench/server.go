package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"citywatch/internal/testenv"
)

// benchBinary finds the server binary name on PATH or where scripts/install-test-deps.sh builds it.
func benchBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(testenv.CacheBin(), name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found (scripts/install-test-deps.sh builds it into %s): %w", name, testenv.CacheBin(), err)
	}
	return p, nil
}

// server is a child process of a measurement on a free loopback port, with its data and its log in
// a temporary directory, started like internal/testenv's servers (which need a testing.TB).
type server struct {
	url string
	dir string
	cmd *exec.Cmd
}

// startServer starts the server name with the arguments args returns for its directory and listen address,
// and waits until GET url+ready answers status.
func startServer(name, ready string, status int, timeout time.Duration, args func(dir, addr string) ([]string, error)) (*server, error) {
	bin, err := benchBinary(name)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "citywatch-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort())
	argv, err := args(dir, addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, argv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &server{url: "http://" + addr, dir: dir, cmd: cmd}
	if err := waitStatus(c.url+ready, status, timeout); err != nil {
		// The log goes with the directory: say what it said.
		tail, _ := os.ReadFile(logf.Name())
		if len(tail) > 600 {
			tail = tail[len(tail)-600:]
		}
		c.stop()
		return nil, fmt.Errorf("%s: %w; its log ends: %q", name, err, tail)
	}
	return c, nil
}

func (c *server) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	os.RemoveAll(c.dir)
}

// waitStatus polls GET u every 50 ms until it answers status.
func waitStatus(u string, status int, timeout time.Duration) error {
	return pollStatus(u, status, timeout, 50*time.Millisecond)
}

// pollStatus polls GET u every interval until it answers status (each request within 5 s), for at most timeout.
func pollStatus(u string, status int, timeout, interval time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", u, timeout, err)
		}
		time.Sleep(interval)
	}
}
