package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
	"citywatch/store"
)

// gateAppender records every Append call's samples; while gate is set, Append waits for it (each call takes
// one value) and returns the value received.
type gateAppender struct {
	mu      sync.Mutex
	calls   [][]store.Sample
	entered chan struct{} // signalled (non-blocking) when an Append starts
	gate    chan error
	// result, when set, computes the error of a call from its samples (after the gate).
	result func([]store.Sample) error
}

func newGateAppender() *gateAppender {
	return &gateAppender{entered: make(chan struct{}, 100), gate: make(chan error)}
}

func (a *gateAppender) Append(_ context.Context, s []store.Sample) error {
	a.mu.Lock()
	a.calls = append(a.calls, append([]store.Sample(nil), s...))
	a.mu.Unlock()
	a.entered <- struct{}{}
	err := <-a.gate
	if err == nil && a.result != nil {
		err = a.result(s)
	}
	return err
}

func (a *gateAppender) callSizes() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n []int
	for _, c := range a.calls {
		n = append(n, len(c))
	}
	return n
}

func batchPipeline(t *testing.T, app store.Appender, cfg PipelineConfig) (*Pipeline, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := NewPipeline(cfg, PipelineDeps{Mapper: fakeMapper{}, Appender: app, Registerer: reg,
		Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	return p, reg
}

// handleAll calls Handle for each message in its own goroutine and returns their errors in message order.
func handleAll(p *Pipeline, msgs []Message) func() []error {
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Handle(context.Background(), m)
		}()
	}
	return func() []error { wg.Wait(); return errs }
}

func msgsFor(n int, payload string) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Topic: fmt.Sprintf("city/d1/s1/dev%d", i), Payload: []byte(payload), Received: t0, Source: "embedded"}
	}
	return msgs
}

// waitQueued waits until n messages wait in the commit queue.
func waitQueued(t *testing.T, p *Pipeline, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(p.batcher.q) == n }, 10*time.Second, time.Millisecond)
}

// TestBatchSharesOneAppend: messages that arrive while a commit runs are stored by one Append, and each Handle
// returns only after that Append returned.
func TestBatchSharesOneAppend(t *testing.T) {
	app := newGateAppender()
	p, reg := batchPipeline(t, app, PipelineConfig{})
	first := handleAll(p, msgsFor(1, "a=1;b=2"))
	<-app.entered // the first message's commit is running
	rest := msgsFor(10, "a=1;b=2")
	for i := range rest {
		rest[i].Topic += "x"
	}
	restDone := handleAll(p, rest)
	waitQueued(t, p, len(rest))
	app.gate <- nil
	require.Equal(t, []error{nil}, first())
	<-app.entered // the batch of the other ten
	select {
	case <-waitChan(restDone):
		t.Fatal("Handle returned before the Append of its batch returned")
	default:
	}
	app.gate <- nil
	for _, err := range restDone() {
		require.NoError(t, err)
	}
	assert.Equal(t, []int{2, 20}, app.callSizes(), "samples per Append")
	n, _ := metricValue(t, reg, "citywatch_ingest_messages_total", "source", "embedded")
	assert.Equal(t, 11.0, n)
	n, _ = metricValue(t, reg, "citywatch_ingest_samples_total", "source", "embedded")
	assert.Equal(t, 22.0, n)
	n, _ = metricValue(t, reg, "citywatch_ingest_batch_messages")
	assert.Equal(t, 2.0, n, "commits")
}

func waitChan(f func() []error) <-chan struct{} {
	ch := make(chan struct{})
	go func() { f(); close(ch) }()
	return ch
}

// TestBatchBounds: a batch holds at most BatchMaxMessages messages and BatchMaxSamples samples (a larger single
// message is appended whole).
func TestBatchBounds(t *testing.T) {
	app := newGateAppender()
	p, _ := batchPipeline(t, app, PipelineConfig{BatchMaxMessages: 4, BatchMaxSamples: 5})
	first := handleAll(p, msgsFor(1, "a=1"))
	<-app.entered
	big := Message{Topic: "city/d1/s1/big", Payload: []byte("a=1;b=1;c=1;d=1;e=1;f=1;g=1"), Received: t0, Source: "embedded"}
	small := msgsFor(6, "a=1;b=1")
	for i := range small {
		small[i].Topic += "y"
	}
	var done []func() []error
	done = append(done, handleAll(p, small[:3]))
	waitQueued(t, p, 3)
	done = append(done, handleAll(p, []Message{big}))
	waitQueued(t, p, 4)
	done = append(done, handleAll(p, small[3:]))
	waitQueued(t, p, 7)
	app.gate <- nil
	go func() {
		for range app.entered {
			app.gate <- nil
		}
	}()
	first()
	for _, d := range done {
		for _, err := range d() {
			require.NoError(t, err)
		}
	}
	// Every call within the bounds but the big message's, which is appended alone.
	sizes := app.callSizes()
	total := 0
	for _, n := range sizes[1:] {
		total += n
		assert.True(t, n <= 5 || n == 7, "samples per Append %v", sizes)
	}
	assert.Equal(t, 6*2+7, total)
	assert.Contains(t, sizes, 7)
}

// TestBatchStoreFailureFailsWholeBatch: when the Append of a batch fails, every message of the batch fails
// (its source does not acknowledge it), nothing is counted as stored and the failure is counted once.
func TestBatchStoreFailureFailsWholeBatch(t *testing.T) {
	app := newGateAppender()
	p, reg := batchPipeline(t, app, PipelineConfig{})
	first := handleAll(p, msgsFor(1, "a=1"))
	<-app.entered
	rest := msgsFor(5, "a=1")
	for i := range rest {
		rest[i].Topic += "z"
	}
	restDone := handleAll(p, rest)
	waitQueued(t, p, 5)
	app.gate <- nil
	require.NoError(t, first()[0])
	<-app.entered
	app.gate <- errors.New("disk full")
	for _, err := range restDone() {
		require.ErrorContains(t, err, "disk full")
	}
	n, _ := metricValue(t, reg, "citywatch_ingest_messages_total", "source", "embedded")
	assert.Equal(t, 1.0, n)
	n, _ = metricValue(t, reg, "citywatch_ingest_append_errors_total")
	assert.Equal(t, 1.0, n)
	assert.Len(t, p.Devices(), 1, "failed messages do not register devices")
}

// TestBatchStoreRejectionAttributed: samples the store refuses in a batch are charged to the message they came
// from (store.RejectedError.SampleReasons); the other messages count as fully stored and keep their last
// values.
func TestBatchStoreRejectionAttributed(t *testing.T) {
	app := newGateAppender()
	app.result = func(s []store.Sample) error {
		reasons := make([]string, len(s))
		n := 0
		for i := range s {
			if s[i].V == 666 {
				reasons[i], n = "duplicate", n+1
			}
		}
		if n == 0 {
			return nil
		}
		return &store.RejectedError{Count: n, Reason: "duplicate", Err: errors.New("duplicate sample"), SampleReasons: reasons}
	}
	p, reg := batchPipeline(t, app, PipelineConfig{})
	first := handleAll(p, msgsFor(1, "a=1"))
	<-app.entered
	batch := []Message{
		{Topic: "city/d1/s1/good", Payload: []byte("a=1;b=2"), Received: t0, Source: "embedded"},
		{Topic: "city/d1/s1/bad", Payload: []byte("a=666;b=3"), Received: t0, Source: "embedded"},
	}
	done := handleAll(p, batch[:1])
	waitQueued(t, p, 1)
	done2 := handleAll(p, batch[1:])
	waitQueued(t, p, 2)
	app.gate <- nil
	first()
	<-app.entered
	app.gate <- nil
	require.NoError(t, done()[0])
	require.NoError(t, done2()[0])

	n, _ := metricValue(t, reg, "citywatch_ingest_rejected_total", "reason", "store_duplicate")
	assert.Equal(t, 1.0, n)
	n, _ = metricValue(t, reg, "citywatch_ingest_samples_total", "source", "embedded")
	assert.Equal(t, 1.0+2+1, n)
	rejected := p.Rejected()
	require.Len(t, rejected, 1)
	assert.Equal(t, "city/d1/s1/bad", rejected[0].Topic)
	for _, d := range p.Devices() {
		switch d.ID {
		case "d1/s1/good":
			assert.Equal(t, map[string]float64{"a": 1, "b": 2}, d.LastValues)
		case "d1/s1/bad":
			assert.Empty(t, d.LastValues, "which of its samples were stored is not kept")
		}
	}
}

// TestHandleAsyncCompletesInOrder: HandleAsync returns before the commit and completes every message once, in
// queue order, after the Append of its batch returned.
func TestHandleAsyncCompletesInOrder(t *testing.T) {
	app := newGateAppender()
	p, _ := batchPipeline(t, app, PipelineConfig{})
	var mu sync.Mutex
	var order []int
	all := make(chan struct{})
	msgs := msgsFor(20, "a=1")
	for i, m := range msgs {
		p.HandleAsync(context.Background(), m, func(err error) {
			assert.NoError(t, err)
			mu.Lock()
			order = append(order, i)
			if len(order) == len(msgs) {
				close(all)
			}
			mu.Unlock()
		})
	}
	// A rejected message completes at once, before HandleAsync returns.
	inPlace := false
	p.HandleAsync(context.Background(), Message{Topic: "nope", Payload: []byte("a=1")}, func(err error) {
		assert.NoError(t, err)
		inPlace = true
	})
	assert.True(t, inPlace)
	go func() {
		for range app.entered {
			app.gate <- nil
		}
	}()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatal("not every message completed")
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range order {
		require.Equal(t, i, order[i], "completion order %v", order)
	}
}

// TestQueueBounded: while the store is blocked, at most QueueSize messages wait; the next submitter waits
// (back-pressure) and gives up when its context ends, and is counted.
func TestQueueBounded(t *testing.T) {
	app := newGateAppender()
	p, reg := batchPipeline(t, app, PipelineConfig{QueueSize: 3})
	first := handleAll(p, msgsFor(1, "a=1"))
	<-app.entered
	msgs := msgsFor(4, "a=1")
	for i := range msgs[:3] {
		msgs[i].Topic += "q"
		p.HandleAsync(context.Background(), msgs[i], func(error) {})
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go p.HandleAsync(ctx, msgs[3], func(err error) { errc <- err })
	require.Eventually(t, func() bool {
		n, _ := metricValue(t, reg, "citywatch_ingest_queue_full_total")
		return n == 1
	}, 10*time.Second, time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("a fourth message was taken by a queue of three: %v", err)
	default:
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	go func() {
		for range app.entered {
			app.gate <- nil
		}
	}()
	app.gate <- nil
	first()
}

// TestCommitGoroutineOutlivesABurst: the commit goroutine waits for the next message (commitIdle) before it
// exits, so bursts that follow each other are committed by one goroutine. One started per burst grew its stack
// through the TSDB's commit each time (snappy's table on the write-ahead log's path is 32 KiB of stack): three
// stack copies per burst, 10 % of serve's CPU at external QoS 1 once the acknowledgements were cheap.
func TestCommitGoroutineOutlivesABurst(t *testing.T) {
	p, _ := batchPipeline(t, &countAppender{}, PipelineConfig{})
	p.batcher.idle = time.Hour
	for i, m := range msgsFor(3, "a=1") {
		done := make(chan error, 1)
		p.HandleAsync(context.Background(), m, func(err error) { done <- err })
		require.NoError(t, <-done, "message %d", i)
	}
	assert.Equal(t, int64(1), p.batcher.starts.Load(), "commit goroutines started for 3 bursts")
}

// TestCommitGoroutineExitsWhenIdle: an idle pipeline holds no goroutine once commitIdle has passed.
func TestCommitGoroutineExitsWhenIdle(t *testing.T) {
	p, _ := batchPipeline(t, &countAppender{}, PipelineConfig{})
	p.batcher.idle = time.Millisecond
	done := make(chan error, 1)
	p.HandleAsync(context.Background(), msgsFor(1, "a=1")[0], func(err error) { done <- err })
	require.NoError(t, <-done)
	require.Eventually(t, func() bool { return !p.batcher.running.Load() }, 10*time.Second, time.Millisecond)
	assert.Equal(t, int64(1), p.batcher.starts.Load())
}
