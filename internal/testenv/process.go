package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Buffer collects a child's output safely while it runs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Process is a child process a test runs, like a user runs citywatch: its output is collected, and when the
// test ends it is stopped (SIGTERM, then SIGKILL after 30 s) and its output logged if the test failed.
type Process struct {
	Cmd  *exec.Cmd
	Out  *Buffer
	done chan struct{}
	err  error
}

// StartProcess starts bin with args and extra environment variables (added to the test's own).
func StartProcess(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	SkipShort(t)
	p := &Process{Out: &Buffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	p.Cmd.Env = append(os.Environ(), env...)
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", bin, args, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.Stop(30*time.Second) != nil {
			p.Kill()
		}
		if t.Failed() {
			t.Logf("%s %v output:\n%s", bin, args, p.Out.String())
		}
	})
	return p
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error; valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Signal sends sig unless the process has exited.
func (p *Process) Signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.Cmd.Process.Signal(sig)
	}
}

// Stop sends SIGTERM and waits up to timeout for the exit; it returns the exit error, or an error when the
// process did not stop in time.
func (p *Process) Stop(timeout time.Duration) error {
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("did not stop within %v after SIGTERM", timeout)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}
