package broker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"citywatch/ingest"
	"citywatch/ingest/mapping"
	"citywatch/store/tsdb"
)

// TestExternalSubscriberQoS1GetsEveryMessage is issue 12's stall: while the ingest pipeline (the real one, on
// a real TSDB) takes every message, an external paho subscriber at QoS 1 must receive every one of 50,000
// messages published at QoS 1 by several clients at once. mochi used to drop a subscriber's QoS 1 messages
// silently once 1024 of them were in flight (Capabilities.MaximumInflight: mochi only logs "client store quota
// reached"), which a subscriber slower than the publishers' burst always reaches. The deadline is only a hang
// guard; nothing here asserts time.
func TestExternalSubscriberQoS1GetsEveryMessage(t *testing.T) {
	const publishers = 4
	perClient := 12500
	if testing.Short() || raceEnabled {
		// Still ten times mochi's in-flight limit per subscriber (the drop this test reproduces: without the
		// flow control it fails at this size too); a run without the race detector keeps the 50,000 of the
		// report. Under -race on a loaded machine every round trip waits on the scheduler: 50,000 took 105 s of
		// wall for 10 s of CPU, holding one of `go test -p 2`'s two slots all that time.
		perClient = 2500
	}
	total := publishers * perClient
	db, err := tsdb.Open(tsdb.Config{Dir: t.TempDir()}, tsdb.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m, err := mapping.New(nil, mapping.Options{DefaultMapping: true})
	if err != nil {
		t.Fatal(err)
	}
	pipeReg := prometheus.NewRegistry()
	p, err := ingest.NewPipeline(ingest.PipelineConfig{}, ingest.PipelineDeps{Mapper: m, Appender: db, Registerer: pipeReg})
	if err != nil {
		t.Fatal(err)
	}
	startPipeline(t, p)
	b, reg := startBroker(t, Config{AllowAnonymous: true}, p)
	url := "tcp://" + b.Addrs().TCP

	seen := make([]atomic.Bool, total)
	var got, dups atomic.Int64
	sub := mustConnect(t, clientOpts(url, "external-sub", "", "").SetOrderMatters(true))
	require := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	require(wait(t, sub.Subscribe("city/#", 1, func(_ paho.Client, msg paho.Message) {
		var i int
		if _, err := fmt.Sscanf(string(msg.Payload()), `{"seq":%d}`, &i); err != nil || i < 0 || i >= total {
			t.Errorf("unexpected payload %q", msg.Payload())
			return
		}
		if seen[i].Swap(true) {
			dups.Add(1)
			return
		}
		got.Add(1)
	})), "subscribe")

	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for c := range publishers {
		pub := mustConnect(t, clientOpts(url, fmt.Sprintf("pub-%d", c), "", ""))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At most 256 unacknowledged, as a real client keeps (MQTT 5's receive maximum): a client that
			// queues all its messages at once would also queue its PINGREQ behind them and time out.
			var toks []paho.Token
			settle := func(tok paho.Token) error {
				if !tok.WaitTimeout(2 * time.Minute) {
					return fmt.Errorf("publisher %d: publish not acknowledged", c)
				}
				return tok.Error()
			}
			for i := range perClient {
				seq := c*perClient + i
				payload := fmt.Appendf(nil, `{"seq":%d}`, seq) // stored by the default mapping, read back by sub
				toks = append(toks, pub.Publish(fmt.Sprintf("city/d1/s%d/dev%d", c, i%50), 1, false, payload))
				if len(toks) == 256 {
					if err := settle(toks[0]); err != nil {
						errs <- err
						return
					}
					toks = toks[1:]
				}
			}
			for _, tok := range toks {
				if err := settle(tok); err != nil {
					errs <- fmt.Errorf("publisher %d: %w", c, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a timing assertion
	for got.Load() < int64(total) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := got.Load(); n != int64(total) {
		t.Fatalf("the QoS 1 subscriber received %d of %d messages (%d duplicates; subscriber drops counted: %v; "+
			"mochi inflight dropped %d, messages dropped %d)", n, total, dups.Load(),
			counter(t, reg, "citywatch_broker_subscriber_dropped_total"), atomic.LoadInt64(&b.srv.Info.InflightDropped),
			atomic.LoadInt64(&b.srv.Info.MessagesDropped))
	}
	if stored := counter(t, pipeReg, "citywatch_ingest_messages_total", "source", Source); stored != float64(total) {
		t.Fatalf("ingest handled %v of %d messages", stored, total)
	}
}

// startPipeline runs the pipeline's background work until the end of the test.
func startPipeline(t *testing.T, p *ingest.Pipeline) {
	t.Helper()
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// TestStuckSubscriberDoesNotStopIngest: a QoS 1 subscriber that stops acknowledging holds publishers back for
// at most the flow control's maximum wait; then it is counted as lagging, its messages beyond mochi's limits
// are dropped and counted, and every published message is still stored.
func TestStuckSubscriberDoesNotStopIngest(t *testing.T) {
	sink := &countSink{}
	b, reg := startBroker(t, Config{AllowAnonymous: true}, sink)
	b.flow.mu.Lock()
	b.flow.maxWait = 200 * time.Millisecond
	b.flow.mu.Unlock()
	url := "tcp://" + b.Addrs().TCP

	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	sub := mustConnect(t, clientOpts(url, "stuck-sub", "", "").SetOrderMatters(true))
	if err := wait(t, sub.Subscribe("city/#", 1, func(paho.Client, paho.Message) { <-stuck })); err != nil {
		t.Fatal(err)
	}
	const total = 3000
	pub := mustConnect(t, clientOpts(url, "pub", "", ""))
	var toks []paho.Token
	for i := range total {
		toks = append(toks, pub.Publish(fmt.Sprintf("city/d1/s1/dev%d", i%10), 1, false, []byte(`{"v":1}`)))
	}
	for _, tok := range toks {
		if err := wait(t, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := sink.n.Load(); n != total {
		t.Fatalf("ingest got %d of %d messages", n, total)
	}
	if n := counter(t, reg, "citywatch_broker_subscriber_lagging_total"); n < 1 {
		t.Fatalf("citywatch_broker_subscriber_lagging_total = %v, want >= 1", n)
	}
	dropped := counter(t, reg, "citywatch_broker_subscriber_inflight_dropped_total") +
		counter(t, reg, "citywatch_broker_subscriber_dropped_total")
	if dropped == 0 {
		t.Fatal("no drop counted for the stuck subscriber")
	}
}
