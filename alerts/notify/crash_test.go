package notify

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const crashChildEnv = "CITYWATCH_NOTIFY_CRASH_CHILD"

func crashConfig(urlA, urlB string) Config {
	return Config{
		Receivers: []Receiver{
			{Name: "a", URL: urlA, AllowPrivate: true},
			{Name: "b", URL: urlB, AllowPrivate: true},
		},
		Routes:       []Route{{Receiver: "a", Continue: true}, {Receiver: "b"}},
		PollInterval: 5 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		BreakerThreshold: 1000, DefaultReceiver: "b",
	}
}

func crashChanges() []Change {
	var cs []Change
	for i := 0; i < 8; i++ {
		c := testChange("Crash")
		c.Fingerprint = "crash-" + string(rune('a'+i))
		cs = append(cs, c)
	}
	return cs
}

// TestCrashChild is the child process of TestCrashRecovery: it enqueues and delivers until killed.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("child process of TestCrashRecovery")
	}
	db, err := OpenDB(os.Getenv("CRASH_DB"))
	require.NoError(t, err)
	o, err := NewOutbox(crashConfig(os.Getenv("CRASH_A"), os.Getenv("CRASH_B")), Deps{DB: db})
	require.NoError(t, err)
	tx, err := db.Begin()
	require.NoError(t, err)
	require.NoError(t, o.Enqueue(context.Background(), tx, crashChanges()...))
	require.NoError(t, tx.Commit())
	require.NoError(t, o.Start())
	select {} // until SIGKILL
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	a, b := newHook(t), newHook(t)
	b.set(503, nil, "down")
	_, path := openTestDB(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", "CRASH_DB="+path, "CRASH_A="+a.srv.URL, "CRASH_B="+b.srv.URL)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()

	// Watch the child's progress through the database, as an operator would.
	watch, err := OpenDB(path)
	require.NoError(t, err)
	defer watch.Close()
	count := func(q string) int {
		var n int
		if err := watch.QueryRow(q).Scan(&n); err != nil {
			return -1 // schema not created yet
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for !(count(`SELECT COUNT(*) FROM notify_deliveries WHERE receiver='a' AND status='delivered'`) == 8 &&
		count(`SELECT COUNT(*) FROM notify_deliveries WHERE receiver='b' AND attempts >= 2`) == 8) {
		select {
		case err := <-exited:
			t.Fatalf("child exited early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "child did not deliver to a and retry b in time")
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL mid-retry
	<-exited
	aHits := a.Hits()
	require.Equal(t, 8, aHits)
	require.Positive(t, b.Hits())
	require.Zero(t, len(b.OK()))

	// Restart in process on the same file; b is back up.
	b.set(200, nil, "")
	db, err := OpenDB(path)
	require.NoError(t, err)
	defer db.Close()
	o, err := NewOutbox(crashConfig(a.srv.URL, b.srv.URL), Deps{DB: db})
	require.NoError(t, err)
	require.NoError(t, o.Start())
	defer o.Close()
	require.Eventually(t, func() bool { return countStatus(t, o, "b", StatusDelivered) == 8 }, waitFor, tick)
	waitCycles(t, o, 5)
	o.Close()
	require.Equal(t, aHits, a.Hits(), "nothing resent to the receiver that already had it")
	for _, c := range crashChanges() {
		require.Equal(t, 1, a.OK()[IdempotencyKey(c, "a")])
		require.GreaterOrEqual(t, b.OK()[IdempotencyKey(c, "b")], 1)
	}
	var delivering int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM notify_deliveries WHERE status != 'delivered'`).Scan(&delivering))
	require.Zero(t, delivering)
}
