package broker

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// closeHangLimit bounds how long one Close may take before the test calls it a deadlock and prints the
// goroutines. It is not a timing assertion: a healthy Close of an idle broker returns in milliseconds.
const closeHangLimit = 30 * time.Second

// churnClients adds and removes clients on b's client registry in a tight loop until stop is closed, as
// devices connecting (mochi's attachClient: Clients.Add) and leaving (Clients.Delete) do, but thousands of
// times faster, so that a writer often waits on the registry's lock at any given moment.
func churnClients(b *Broker, stop <-chan struct{}, wg *sync.WaitGroup, rounds *atomic.Int64) {
	defer wg.Done()
	// A listener id of its own: these registry entries have no connection and Close must not touch them.
	cl := b.srv.NewClient(nil, "churn", "churn-client", false)
	for {
		select {
		case <-stop:
			return
		default:
		}
		b.srv.Clients.Add(cl)
		b.srv.Clients.Delete(cl.ID)
		rounds.Add(1)
	}
}

// TestCloseWhileClientsChurn is the regression test for the shutdown hang seen in TestCloseUnblocksSink:
// mochi v2.7.9's Clients.GetByListener takes the registry's read lock twice (mochi-mqtt/server#488), so a
// client connecting or leaving between the two acquisitions deadlocks Close for ever. Every round closes a
// started broker while clients churn; with the recursive lock a round hangs within a few dozen.
func TestCloseWhileClientsChurn(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	for i := range rounds {
		b, err := New(Config{Listen: "127.0.0.1:0", WebSocketListen: "127.0.0.1:0", AllowAnonymous: true},
			Deps{Sink: newRecordSink()})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go churnClients(b, stop, &wg, new(atomic.Int64))
		closed := make(chan struct{})
		go func() { b.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(closeHangLimit):
			t.Fatalf("round %d: Close hangs while clients connect and leave; goroutines:\n%s", i, brokerGoroutines())
		}
		close(stop)
		wg.Wait()
	}
}

// TestDisconnectListenerUnderChurn drives the broker's own disconnection of a listener's clients (what a
// listener's Close runs) many times against a churning registry: it must neither hang nor disconnect a
// client of another listener, and it must disconnect every client of its own.
func TestDisconnectListenerUnderChurn(t *testing.T) {
	b, err := New(Config{AllowAnonymous: true}, Deps{Sink: newRecordSink()})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	churned := new(atomic.Int64)
	go churnClients(b, stop, &wg, churned)

	// Overlap for a good while: until both have run many thousand times.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000 || churned.Load() < 200000; i++ {
			b.disconnectListener("tcp")
		}
	}()
	select {
	case <-done:
	case <-time.After(closeHangLimit):
		// No cleanup: the deadlocked goroutines would block it too.
		t.Fatalf("disconnectListener hangs while clients connect and leave; goroutines:\n%s", brokerGoroutines())
	}
	close(stop)
	wg.Wait()
	defer b.Close()

	// Its own clients are stopped with the shutdown reason; others are left alone.
	var mine, other []string
	for i := range 3 {
		id := fmt.Sprintf("tcp-%d", i)
		b.srv.Clients.Add(b.srv.NewClient(pipeConn(t), "tcp", id, false))
		mine = append(mine, id)
		id = fmt.Sprintf("ws-%d", i)
		b.srv.Clients.Add(b.srv.NewClient(pipeConn(t), "ws", id, false))
		other = append(other, id)
	}
	b.disconnectListener("tcp")
	for _, id := range mine {
		cl, ok := b.srv.Clients.Get(id)
		if !ok || !cl.Closed() {
			t.Errorf("client %s of the closed listener is still open", id)
		}
	}
	for _, id := range other {
		if cl, ok := b.srv.Clients.Get(id); !ok || cl.Closed() {
			t.Errorf("client %s of another listener was disconnected", id)
		}
	}
}

// pipeConn returns one end of an in-memory connection whose other end discards what it reads; both close
// with the test.
func pipeConn(t *testing.T) net.Conn {
	c, peer := net.Pipe()
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	t.Cleanup(func() { _ = c.Close(); _ = peer.Close() })
	return c
}
