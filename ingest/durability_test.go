package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/ingest/mapping"
	"citywatch/internal/testenv"
	"citywatch/store"
)

// Environment of the durability child process.
const (
	envDurabilityChild = "CITYWATCH_INGEST_DURABILITY_CHILD"
	envBroker          = "CITYWATCH_INGEST_DURABILITY_BROKER"
	envOut             = "CITYWATCH_INGEST_DURABILITY_OUT"
	envReady           = "CITYWATCH_INGEST_DURABILITY_READY"
)

// TestExternalDurability is the end-to-end durability check of the external source: a collector process
// (External + Pipeline + a file appender that returns only after write(2)) is SIGKILLed and restarted several
// times while 10,000 numbered QoS 1 messages are published; afterwards every number must be in the file.
// Duplicates are allowed (at-least-once), gaps are not.
func TestExternalDurability(t *testing.T) {
	if os.Getenv(envDurabilityChild) != "" {
		t.Skip("running as the durability child")
	}
	mosq := testenv.Mosquitto(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "stored.txt")
	ready := filepath.Join(dir, "ready")
	exe, err := os.Executable()
	require.NoError(t, err)

	var (
		mu    sync.Mutex
		child *exec.Cmd
		done  chan struct{}
		logs  bytes.Buffer
	)
	start := func() {
		t.Helper()
		require.NoError(t, os.RemoveAll(ready))
		cmd := exec.Command(exe, "-test.run=^TestDurabilityChild$", "-test.v")
		cmd.Env = append(os.Environ(), envDurabilityChild+"=1", envBroker+"="+mosq.URL, envOut+"="+out, envReady+"="+ready)
		cmd.Stdout, cmd.Stderr = &lockedWriter{w: &logs, mu: &mu}, &lockedWriter{w: &logs, mu: &mu}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		d := make(chan struct{})
		go func() { _ = cmd.Wait(); close(d) }()
		child, done = cmd, d
		require.Eventually(t, func() bool {
			_, err := os.Stat(ready)
			return err == nil
		}, 30*time.Second, 10*time.Millisecond, "child did not become ready")
	}
	kill := func() {
		t.Helper()
		require.NoError(t, child.Process.Signal(syscall.SIGKILL))
		<-done
		child = nil
	}
	t.Cleanup(func() {
		if child != nil {
			_ = child.Process.Kill()
			<-done
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("child output:\n%s", logs.String())
			mu.Unlock()
		}
	})

	pubOpts := paho.NewClientOptions().AddBroker(mosq.URL).SetClientID("durability-publisher").
		SetCleanSession(true).SetAutoReconnect(false)
	pub := paho.NewClient(pubOpts)
	tok := pub.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	defer pub.Disconnect(100)

	const total = 10000
	var window []paho.Token
	flush := func() {
		for _, tok := range window {
			require.True(t, tok.WaitTimeout(10*time.Second), "publish timed out")
			require.NoError(t, tok.Error())
		}
		window = window[:0]
	}
	kills, behind := 0, 0
	// killMidStream kills the child once it stored something since stored (so it is up and working), noting
	// whether it still had messages to go.
	killMidStream := func(stored, published int) {
		t.Helper()
		require.Eventually(t, func() bool { return countLines(out) > stored }, 30*time.Second, 10*time.Millisecond,
			"child stored nothing")
		kill()
		kills++
		if len(missingSeqs(out, published)) > 0 {
			behind++
		}
	}
	// Schedule: at these sequence numbers the child is killed while receiving live messages (the next
	// numbers are then published while it is down), or restarted and killed again while it works through the
	// backlog the broker kept for its session, then restarted.
	liveKills := map[int]bool{1500: true, 5000: true, 8000: true}
	restartsAt := map[int]bool{2500: true, 6000: true, 9000: true}
	start()
	storedAtStart := 0
	for i := range total {
		switch {
		case liveKills[i]:
			flush()
			killMidStream(storedAtStart, i)
		case restartsAt[i]:
			flush()
			stored := countLines(out)
			start()
			killMidStream(stored, i) // in the middle of the backlog
			start()
			storedAtStart = countLines(out)
		}
		window = append(window, pub.Publish(fmt.Sprintf("dur/dev%d", i%8), 1, false, strconv.Itoa(i)))
		if len(window) >= 100 {
			flush()
		}
	}
	flush()
	require.Equal(t, 6, kills)

	if !assert.Eventually(t, func() bool { return len(missingSeqs(out, total)) == 0 }, 40*time.Second,
		20*time.Millisecond) {
		m := missingSeqs(out, total)
		t.Fatalf("%d sequence numbers missing, first: %v", len(m), m[:min(len(m), 20)])
	}
	kill()
	lines := countLines(out)
	t.Logf("%d messages, %d stored lines (%d duplicates); %d kills, %d of them with messages still to store",
		total, lines, lines-total, kills, behind)
}

// TestDurabilityChild is the collector process of TestExternalDurability; it does nothing in a normal run.
func TestDurabilityChild(t *testing.T) {
	if os.Getenv(envDurabilityChild) == "" {
		t.Skip("helper process for TestExternalDurability")
	}
	app, err := openFileAppender(os.Getenv(envOut))
	require.NoError(t, err)
	p, err := NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: seqMapper{}, Appender: app})
	require.NoError(t, err)
	cfg := testExternalConfig(os.Getenv(envBroker), "durability-collector", "dur/#")
	cfg.StoreRetryFor = time.Minute
	e, err := NewExternal(cfg, p, ExternalDeps{})
	require.NoError(t, err)
	require.NoError(t, e.Start())
	require.Eventually(t, e.Connected, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, os.WriteFile(os.Getenv(envReady), nil, 0o600))
	select {} // until SIGKILL
}

// seqMapper maps a payload holding a sequence number to one sample with that value.
type seqMapper struct{}

func (seqMapper) Map(topic string, payload []byte, now time.Time) (mapping.Result, error) {
	v, err := strconv.Atoi(string(payload))
	if err != nil {
		return mapping.Result{}, &mapping.RejectError{Reason: mapping.ReasonBadNumber, Err: err}
	}
	return mapping.Result{Samples: []store.Sample{{Name: "seq", T: now.UnixMilli(), V: float64(v)}}}, nil
}

// fileAppender writes one line per sample and returns only after write(2) returned: the bytes are in the
// kernel's page cache, which survives the process being killed (an fsync would also cover power loss, which
// this test does not simulate).
type fileAppender struct {
	mu sync.Mutex
	f  *os.File
}

func openFileAppender(path string) (*fileAppender, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &fileAppender{f: f}, nil
}

func (a *fileAppender) Append(_ context.Context, samples []store.Sample) error {
	var b []byte
	for _, s := range samples {
		b = strconv.AppendInt(b, int64(s.V), 10)
		b = append(b, '\n')
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(b); err != nil {
		return errors.Join(errors.New("file appender"), err)
	}
	return nil
}

// countLines returns the number of lines in the file (0 when it cannot be read yet). It runs in polling
// goroutines, so it does not fail the test itself.
func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte{'\n'})
}

// missingSeqs returns the numbers below total that the file does not hold.
func missingSeqs(path string, total int) []int {
	seen := make([]bool, total)
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, err := strconv.Atoi(sc.Text()); err == nil && v >= 0 && v < total {
				seen[v] = true
			}
		}
		_ = f.Close()
	}
	var missing []int
	for i, ok := range seen {
		if !ok {
			missing = append(missing, i)
		}
	}
	return missing
}
