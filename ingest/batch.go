package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"citywatch/ingest/mapping"
	"citywatch/store"
)

// Batched commits (group commit). Messages whose samples arrive while a commit is running are appended
// together by the next one: one store append, one TSDB commit, one write-ahead-log write for all of them. Each
// message is complete (its source may acknowledge it) only when the append of its batch returned, so
// durability is that of a single append. No time is spent waiting for a batch to fill: a batch is what queued
// up during the previous commit, at most BatchMaxMessages messages and BatchMaxSamples samples, so the latency
// a message gains is at most one commit of the batch before it, plus the linger: while more sources are
// active (mapping a message, or just woken by the previous commit) than have a message in the batch, and the
// batch is not full, the commit waits for them, at most maxLinger, yielding the processor to them (as
// PostgreSQL's commit_delay waits when commit_siblings are active). On few cores that is what lets a batch form
// at all, since the sources are busy on the CPU rather than waiting on I/O. The commit blocks on the queue
// meanwhile, leaving the processor to them.
//
// The queue holds at most QueueSize messages; when it is full, submitters wait (back-pressure to the source:
// the broker stops reading from that client, the external source's workers stall). The commit goroutine is
// started when the queue becomes non-empty and exits once it has stayed empty for commitIdle (100 ms), so an
// idle pipeline holds none, and a stream of bursts keeps one goroutine whose stack has grown through the store's
// commit once, instead of a new one growing it again for every burst.

// pending is one message between mapping and the end of its batch's commit.
type pending struct {
	m        Message
	res      mapping.Result
	recv     time.Time
	start    time.Time
	rejected bool      // the door refused some of its samples
	dev      deviceRef // the device's registry entry, found at the door
	lo, hi   int       // its samples in the batch
	// done is the completion of HandleAsync; without it the result is sent to ch (capacity 1, Handle).
	done func(error)
	// doneMsg is the completion of HandleAsyncMessage.
	doneMsg func(Message, error)
	ch      chan error
	// buf is the samples buffer the mapper filled for this message (res.Samples, or its array before the door
	// dropped samples), kept for the next message that takes this entry from the pool.
	buf []store.Sample
}

// maxPooledSamples bounds the samples buffer a pooled pending entry keeps: a rare large message's buffer is
// let go rather than held by the pool.
const maxPooledSamples = 64

// pendings recycles pending values (and the completion channels of Handle).
var pendings = sync.Pool{New: func() any { return &pending{ch: make(chan error, 1)} }}

// release returns pd to the pool; it must be complete and its channel drained.
func (pd *pending) release() {
	ch, buf := pd.ch, pd.buf
	clear(buf) // keep no labels or names alive from the pool
	*pd = pending{ch: ch, buf: buf[:0]}
	pendings.Put(pd)
}

// commitIdle is how long the commit goroutine waits for a message once the queue is empty before it exits.
const commitIdle = 100 * time.Millisecond

// maxLinger bounds how long a commit waits for messages being mapped to join its batch.
const maxLinger = time.Millisecond

// committer queues prepared messages and commits them in batches.
type committer struct {
	p       *Pipeline
	q       chan *pending
	running atomic.Bool
	// active counts Handle calls under way and HandleAsync calls not yet queued: the sources that will queue a
	// message soon, unless theirs is in the batch being formed (Handle waits for its commit).
	active  atomic.Int32
	maxMsgs int
	maxSmp  int
	// idle is how long the commit goroutine waits for the next message before it exits (commitIdle).
	idle time.Duration
	// starts counts the commit goroutines started.
	starts atomic.Int64

	// Used by the single commit goroutine only.
	batch   []*pending
	samples []store.Sample
	carry   *pending // taken from the queue but beyond the previous batch's sample bound
	linger  *time.Timer
}

func newCommitter(p *Pipeline, queue, maxMsgs, maxSamples int) *committer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &committer{p: p, q: make(chan *pending, queue), maxMsgs: maxMsgs, maxSmp: maxSamples, idle: commitIdle, linger: t}
}

// submit queues pd, waiting while the queue is full until ctx is done. When no commit is running, an inline
// submitter (Handle) commits in its own goroutine until its message is complete, which spares an idle
// pipeline two goroutine switches per message, and hands what is left to a commit goroutine; other
// submitters start the commit goroutine.
func (c *committer) submit(ctx context.Context, pd *pending, inline bool) error {
	select {
	case c.q <- pd:
	default:
		c.p.queueFull.Inc()
		select {
		case c.q <- pd:
		case <-ctx.Done():
			return fmt.Errorf("ingest: waiting for the commit queue: %w", ctx.Err())
		}
	}
	if !c.running.CompareAndSwap(false, true) {
		return nil
	}
	if !inline {
		c.start()
		return nil
	}
	for len(pd.ch) == 0 && c.commitOne() {
	}
	c.running.Store(false)
	if len(c.q) > 0 && c.running.CompareAndSwap(false, true) {
		c.start()
	}
	return nil
}

// start starts the commit goroutine; the caller set running.
func (c *committer) start() {
	c.starts.Add(1)
	go c.run()
}

// run commits batches until the queue has stayed empty for idle.
func (c *committer) run() {
	for {
		for c.commitOne() || c.next() {
		}
		c.running.Store(false)
		// A submitter that queued after the last receive saw running still true and started nobody.
		if len(c.q) == 0 || !c.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// next waits at most idle for a message and keeps it for the next commit (carry); it reports whether one came.
// Keeping the goroutine between bursts spares a new one growing its stack through the store's commit again.
func (c *committer) next() bool {
	c.linger.Reset(c.idle)
	select {
	case pd := <-c.q:
		c.linger.Stop()
		c.carry = pd
		return true
	case <-c.linger.C:
		return false
	}
}

// commitOne commits what is queued, up to the batch bounds. It reports false when the queue was empty.
func (c *committer) commitOne() bool {
	c.batch, c.samples = c.batch[:0], c.samples[:0]
	lingering := false
	waiting := int32(0) // Handle calls with a message in the batch
	if c.carry != nil {
		c.add(c.carry)
		if c.carry.waited() {
			waiting++
		}
		c.carry = nil
	}
	for len(c.batch) < c.maxMsgs {
		var pd *pending
		select {
		case pd = <-c.q:
		default:
		}
		if pd == nil {
			if c.active.Load() <= waiting || len(c.batch) == 0 {
				break
			}
			if !lingering {
				lingering = true
				c.linger.Reset(maxLinger)
			}
			select {
			case pd = <-c.q:
			case <-c.linger.C:
			}
			if pd == nil {
				break
			}
		}
		if len(c.batch) > 0 && len(c.samples)+len(pd.res.Samples) > c.maxSmp {
			c.carry = pd
			break
		}
		c.add(pd)
		if pd.waited() {
			waiting++
		}
	}
	if lingering {
		c.linger.Stop()
	}
	if len(c.batch) == 0 {
		return false
	}
	c.p.commit(c.batch, c.samples)
	clear(c.batch) // do not keep messages alive until the next burst
	clear(c.samples)
	if cap(c.samples) > 4*c.maxSmp {
		c.samples = nil
	}
	return true
}

func (c *committer) add(pd *pending) {
	pd.lo = len(c.samples)
	c.samples = append(c.samples, pd.res.Samples...)
	pd.hi = len(c.samples)
	c.batch = append(c.batch, pd)
}

// commit appends the samples of a batch in one call and completes each of its messages.
func (p *Pipeline) commit(batch []*pending, samples []store.Sample) {
	p.batchMessages.Observe(float64(len(batch)))
	err := p.appender.Append(context.Background(), samples)
	rej := asRejected(err)
	if err != nil && rej == nil {
		p.appendErrors.Inc()
		err = fmt.Errorf("ingest: storing %d samples of a batch of %d messages: %w", len(samples), len(batch), err)
		for _, pd := range batch {
			p.duration.Observe(time.Since(pd.start).Seconds())
			pd.complete(err)
		}
		return
	}
	// Read the clocks once per batch, not per message: the store time for the stall status and the end of
	// every message's handling for citywatch_ingest_handle_duration_seconds.
	storedAt, end := p.now(), time.Now()
	var tally sourceTally
	for i, pd := range batch {
		refused, reason := 0, ""
		if rej != nil {
			refused, reason = refusedOf(rej, pd, i == 0)
		}
		stored := pd.hi - pd.lo - refused
		if refused > 0 {
			pd.rejected = true
			var perr error = rej
			if len(batch) > 1 {
				perr = fmt.Errorf("the store refused %d of the message's %d samples (%s); first refusal in its batch: %w",
					refused, pd.hi-pd.lo, reason, rej.Err)
			}
			p.reject(pd.m, p.storeReason(reason), perr, refused)
		} else if rej != nil && rej.SampleReasons == nil {
			pd.rejected = true // which samples were refused is unknown: keep no last values
		}
		p.finishTally(pd, stored, storedAt, end, &tally)
	}
	// Counted before any message of the batch is complete, so that whoever sees a message acknowledged sees
	// it counted.
	tally.flush()
	for _, pd := range batch {
		pd.complete(nil)
	}
}

// refusedOf returns how many samples of pd the store refused and why. A store that does not say which samples
// it refused (SampleReasons nil) has its count charged to the batch's first message.
func refusedOf(rej *store.RejectedError, pd *pending, first bool) (int, string) {
	if rej.SampleReasons == nil || len(rej.SampleReasons) < pd.hi {
		if first {
			return min(max(rej.Count, 0), pd.hi-pd.lo), rej.Reason
		}
		return 0, ""
	}
	count, reason := 0, ""
	for _, r := range rej.SampleReasons[pd.lo:pd.hi] {
		if r == "" {
			continue
		}
		count++
		if reason == "" {
			reason = r
		} else if reason != r {
			reason = rej.Reason // several reasons: the call's summary ("multiple")
		}
	}
	return count, reason
}

// complete hands the result to the submitter. A HandleAsync pending is recycled here, a Handle one by Handle.
func (pd *pending) complete(err error) {
	switch {
	case pd.done != nil:
		pd.done(err)
	case pd.doneMsg != nil:
		pd.doneMsg(pd.m, err)
	default:
		pd.ch <- err
		return
	}
	pd.release()
}

// waited reports whether a Handle call waits for pd (neither completion function is set).
func (pd *pending) waited() bool {
	return pd.done == nil && pd.doneMsg == nil
}

// asRejected returns err as a *store.RejectedError, or nil. It keeps errors.As's target off the hot path, where
// it would escape to the heap on every call.
func asRejected(err error) *store.RejectedError {
	if err == nil {
		return nil
	}
	var rej *store.RejectedError
	if errors.As(err, &rej) {
		return rej
	}
	return nil
}
