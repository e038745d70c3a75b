package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
	"citywatch/store"
)

// firstBlocksAppender blocks its first Append until open is closed, and records the size of every call.
type firstBlocksAppender struct {
	open  chan struct{}
	mu    sync.Mutex
	sizes []int
}

func (a *firstBlocksAppender) Append(_ context.Context, s []store.Sample) error {
	a.mu.Lock()
	first := len(a.sizes) == 0
	a.sizes = append(a.sizes, len(s))
	a.mu.Unlock()
	if first {
		<-a.open
	}
	return nil
}

// first is the size of the first call, 0 before it.
func (a *firstBlocksAppender) first() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sizes) == 0 {
		return 0
	}
	return a.sizes[0]
}

func (a *firstBlocksAppender) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.sizes {
		n += s
	}
	return n
}

// TestExternalSharesCommits: the external source's messages share the pipeline's commits beyond one per
// worker. While a commit is under way, every message received (up to MaxInflight) waits in the pipeline's
// queue for the next one, instead of at most one per worker (Workers, 16) with the others queued behind the
// workers: the batch of the next commit was bounded by the worker count and external ingest ran at a third of
// a bare subscriber's rate.
func TestExternalSharesCommits(t *testing.T) {
	mosq := testenv.Mosquitto(t, testenv.MosquittoMaxInflight(1000))
	queuesBehindABlockedCommit(t, mosq.URL, testExternalConfig(mosq.URL, "t-batch", "city/#"))
}

// TestExternalQoS0DoesNotWaitForCommits: a QoS 0 message has nothing to acknowledge, so once the pipeline has
// queued it, it no longer holds one of the source's MaxInflight tokens; the pipeline's own queue (QueueSize)
// bounds it from there. It held its token until its batch was committed, so reading from the broker stopped
// after MaxInflight messages per commit, and external QoS 0 ingest ran at a fifth of a bare subscriber's rate.
func TestExternalQoS0DoesNotWaitForCommits(t *testing.T) {
	mosq := testenv.Mosquitto(t)
	cfg := testExternalConfig(mosq.URL, "t-qos0", "city/#")
	cfg.QoS, cfg.MaxInflight = 0, 8
	queuesBehindABlockedCommit(t, mosq.URL, cfg)
}

// queuesBehindABlockedCommit runs an external source of cfg into a pipeline whose first commit blocks,
// publishes 200 messages of one sample each to the broker at url, and requires every one of them in that
// commit or queued for the next before it lets the commit go; then all must be appended.
func queuesBehindABlockedCommit(t *testing.T, url string, cfg ExternalConfig) {
	t.Helper()
	app := &firstBlocksAppender{open: make(chan struct{})}
	p, err := NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: fakeMapper{}, Appender: app})
	require.NoError(t, err)
	startExternal(t, cfg, p, prometheus.NewRegistry())
	var once sync.Once
	release := func() { once.Do(func() { close(app.open) }) }
	t.Cleanup(release) // before the source's Close, which drains
	pub := publisher(t, url)
	const n = 200
	for i := range n {
		pub(fmt.Sprintf("city/d1/s1/dev%d", i), "x=1")
	}
	queued := func() int { return len(p.batcher.q) + app.first() }
	require.Eventually(t, func() bool { return queued() == n }, 10*time.Second, 5*time.Millisecond,
		"messages in the blocked commit or queued for the next: %d of %d (QoS %d, MaxInflight %d)", queued(), n, cfg.QoS, cfg.MaxInflight)
	release()
	require.Eventually(t, func() bool { return app.total() == n }, 10*time.Second, 5*time.Millisecond)
}
