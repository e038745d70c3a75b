package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MosquittoServer is a mosquitto child process listening on a free loopback port, with persistence in a
// temporary directory so that Stop and Start keep sessions and queued messages.
type MosquittoServer struct {
	// Addr is the listener address, e.g. 127.0.0.1:38211.
	Addr string
	// URL is the broker URL for MQTT clients, e.g. tcp://127.0.0.1:38211.
	URL string
	// Dir holds the config file and the persistence database.
	Dir string

	t    testing.TB
	bin  string
	conf string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  Buffer
}

// MosquittoOption changes the generated mosquitto configuration.
type MosquittoOption func(*mosquittoOptions)

type mosquittoOptions struct {
	maxInflight int
	maxQueued   int
	extra       []string
}

// MosquittoMaxInflight sets max_inflight_messages: how many QoS 1/2 messages mosquitto sends to one client
// before it has to acknowledge them. The default here is 100 (mosquitto's own default is 20).
func MosquittoMaxInflight(n int) MosquittoOption {
	return func(o *mosquittoOptions) { o.maxInflight = n }
}

// MosquittoMaxQueued sets max_queued_messages: how many QoS 1/2 messages mosquitto queues per client beyond
// those in flight, notably for an offline persistent session. The default here is 1000000.
func MosquittoMaxQueued(n int) MosquittoOption {
	return func(o *mosquittoOptions) { o.maxQueued = n }
}

// MosquittoConfig appends raw lines to the configuration (they apply to the default listener unless they
// start a new one).
func MosquittoConfig(lines ...string) MosquittoOption {
	return func(o *mosquittoOptions) { o.extra = append(o.extra, lines...) }
}

// Mosquitto starts mosquitto on a free 127.0.0.1 port and stops it in t.Cleanup. It fails the test when
// mosquitto does not accept connections within 10s, showing its log.
func Mosquitto(t testing.TB, opts ...MosquittoOption) *MosquittoServer {
	t.Helper()
	bin := LookPath(t, "mosquitto", "/usr/sbin", "/usr/local/sbin")
	o := mosquittoOptions{maxInflight: 100, maxQueued: 1000000}
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	s := &MosquittoServer{Dir: dir, t: t, bin: bin, conf: filepath.Join(dir, "mosquitto.conf")}
	t.Cleanup(s.Stop)
	// The port is free when FreePort returns but another process may take it before mosquitto binds it:
	// try a few ports.
	var lastErr error
	for range 3 {
		s.Addr = FreePort(t)
		s.URL = "tcp://" + s.Addr
		if err := os.WriteFile(s.conf, []byte(mosquittoConf(s.Addr, dir, o)), 0o600); err != nil {
			t.Fatalf("mosquitto: writing config: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("mosquitto: %v\nlog:\n%s", lastErr, s.Log())
	return nil
}

func mosquittoConf(addr, dir string, o mosquittoOptions) string {
	_, port, _ := net.SplitHostPort(addr)
	lines := []string{
		"listener " + port + " 127.0.0.1",
		"allow_anonymous true",
		"persistence true",
		"persistence_location " + dir + string(filepath.Separator),
		"persistence_file mosquitto.db",
		// mosquitto's default max_queued_messages is 1000: beyond that it silently drops QoS 1/2 messages for
		// an offline persistent session (a collector that restarts). Tests that stop a subscriber need more, and
		// so do production brokers feeding citywatch: raise it there too (or set 0, unlimited).
		fmt.Sprintf("max_queued_messages %d", o.maxQueued),
		fmt.Sprintf("max_inflight_messages %d", o.maxInflight),
		"set_tcp_nodelay true",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"log_type notice",
		"log_type information",
		"connection_messages true",
		"log_timestamp_format %H:%M:%S",
	}
	if os.Geteuid() == 0 {
		// As root mosquitto switches to the user "mosquitto", which cannot write the test's temp dir.
		lines = append(lines, "user root")
	}
	lines = append(lines, o.extra...)
	return strings.Join(lines, "\n") + "\n"
}

// start runs mosquitto and waits until it accepts connections or exits.
func (s *MosquittoServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command(s.bin, "-c", s.conf)
	cmd.Stdout = &s.log
	cmd.Stderr = &s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("mosquitto exited before accepting connections (%s)", cmd.ProcessState)
		case <-time.After(10 * time.Millisecond): // polling for readiness
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("mosquitto did not accept connections on %s within 10s", s.Addr)
		}
	}
}

// Start starts mosquitto again after Stop, on the same port and with the same persistence. It fails the test
// when mosquitto does not come up.
func (s *MosquittoServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("mosquitto: %v\nlog:\n%s", err, s.Log())
	}
}

// Stop stops mosquitto with SIGTERM (it saves its persistence database on the way out) and waits for it;
// after 10s it kills it. Stop is safe to call when already stopped.
func (s *MosquittoServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Kill stops mosquitto with SIGKILL, as in a crash: what it did not save yet is lost.
func (s *MosquittoServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// Log returns everything mosquitto wrote so far, across restarts.
func (s *MosquittoServer) Log() string { return s.log.String() }
