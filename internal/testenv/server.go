package testenv

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childServer is an HTTP server child process that a test can stop or kill and start again with the same
// arguments (same port, same data directory). The server types embed it for their Start, Stop and Kill.
type childServer struct {
	t           testing.TB
	name        string
	bin         string
	args        []string
	env         []string // added to the environment
	logPath     string
	ready       string // URL answering readyStatus once the server is ready
	readyStatus int    // 0 means 200

	// rebind, when set, moves a server that never started to other free ports (its address fields and
	// configuration): see Start.
	rebind func()

	started bool // a start succeeded (test goroutine only)
	starts  int  // runs begun, for the log's marks

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startChild starts the server bin args in dir (its log in dir/<name>.log), stops it in t.Cleanup and waits
// until ready answers 200. It must be called from the test goroutine.
func startChild(t testing.TB, name, bin, dir, ready string, args ...string) *childServer {
	t.Helper()
	s := &childServer{t: t, name: name, bin: bin, args: args, logPath: filepath.Join(dir, name+".log"), ready: ready}
	s.cleanup()
	s.Start()
	return s
}

// Start starts the server (again, after Stop or Kill) on the same port with the same data, unless it runs,
// and waits until it is ready. It fails the test on error and must be called from the test goroutine.
//
// Until a start has succeeded, a server with rebind that exits because its port was taken (the port was free
// when FreePort looked, and any process's listener on :0 or outgoing connection may take it before the child
// binds it) is started again on new ports; later starts keep their port, which the code under test knows.
func (s *childServer) Start() {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		err := s.start()
		if err == nil {
			s.started = true
			return
		}
		if !errors.Is(err, errPortTaken) || s.started || s.rebind == nil || attempt == maxBindAttempts {
			s.t.Fatal(err)
		}
		s.t.Logf("%s: %v; starting it again on other ports", s.name, err)
		s.rebind()
	}
}

// maxBindAttempts bounds the first starts that find their port taken.
const maxBindAttempts = 3

// errPortTaken marks a start that failed because a port was in use.
var errPortTaken = errors.New("port taken")

// start runs the server once and waits until it is ready, or fails with what went wrong.
func (s *childServer) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return nil
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s log: %w", s.name, err)
	}
	s.starts++
	// Every start appends to one log: mark where this one begins, so a tail says which run it shows.
	fmt.Fprintf(logf, "--- testenv: start %d of %s %v\n", s.starts, s.name, s.args)
	from, _ := logf.Seek(0, io.SeekCurrent)
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if s.env != nil {
		cmd.Env = append(os.Environ(), s.env...)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.mu.Unlock()
		return fmt.Errorf("%s start: %w", s.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	// A hang guard, not a timing assertion: a loaded CI machine can take long to start a server; the loop
	// ends at once when the process exits.
	const readyWithin = 5 * time.Minute
	deadline := time.Now().Add(readyWithin)
	for {
		select {
		case <-done:
			s.stop(syscall.SIGKILL) // forget the exited process, so that Start can run it again
			if bytes.Contains(s.logFrom(from), []byte("address already in use")) {
				return fmt.Errorf("%s exited during start (%w); log:\n%s", s.name, errPortTaken, s.logTail())
			}
			return fmt.Errorf("%s exited during start; log:\n%s", s.name, s.logTail())
		default:
		}
		err := httpStatus(s.ready, cmp.Or(s.readyStatus, http.StatusOK))
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			cpu, _ := ProcessCPU(cmd.Process.Pid)
			return fmt.Errorf("%s at %s not ready after %v, having used %v of CPU (last: %v); log:\n%s",
				s.name, s.ready, readyWithin, cpu, err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server gracefully (SIGTERM) and waits for it to exit. Data stays for Start. It is safe to
// call more than once and from any goroutine.
func (s *childServer) Stop() { s.stop(syscall.SIGTERM) }

// Kill stops the server with SIGKILL, like a crash, and waits for it to exit.
func (s *childServer) Kill() { s.stop(syscall.SIGKILL) }

// stop signals the process (SIGKILL after 15s) and waits for it to exit. Safe from any goroutine, and when
// it is not running.
func (s *childServer) stop(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// logFrom returns the log from offset on: what one run wrote.
func (s *childServer) logFrom(offset int64) []byte {
	b, err := os.ReadFile(s.logPath)
	if err != nil || offset > int64(len(b)) {
		return nil
	}
	return b[offset:]
}

func (s *childServer) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// cleanup stops the server when the test ends and logs its output if the test failed.
func (s *childServer) cleanup() {
	s.t.Cleanup(func() {
		s.Stop()
		if s.t.Failed() {
			s.t.Logf("%s log tail:\n%s", s.name, s.logTail())
		}
	})
}

// httpStatus GETs u and reports an error unless it answers want.
func httpStatus(u string, want int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return nil
}

// getBody GETs u and returns the body of a 200 answer.
func getBody(u string) ([]byte, error) {
	return fetch(http.MethodGet, u, nil, nil)
}

// fetch sends a request with header and body to u, bounded by 30 s, and returns the body of a 200 answer;
// another status is an error quoting the start of the answer.
func fetch(method, u string, header http.Header, body io.Reader) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %.500s", method, u, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}
