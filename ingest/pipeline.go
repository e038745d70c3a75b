package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/ingest/mapping"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
)

// Mapper maps a message to samples. It is implemented by *mapping.Mapper. A message rejected for its content is
// reported with a *mapping.RejectError; the Result may still name the device (Result.Device) so the rejection
// counts as that device's error.
type Mapper interface {
	Map(topic string, payload []byte, now time.Time) (mapping.Result, error)
}

// appendMapper is a Mapper that can map into a caller's buffer (*mapping.Mapper), so that the samples of a
// message do not cost a new slice each: the pipeline keeps one buffer per pending entry (batch.go).
type appendMapper interface {
	MapAppend(dst []store.Sample, topic string, payload []byte, now time.Time) (mapping.Result, error)
}

// Handler takes one message from a source. It returns nil once the message is durably stored or rejected for
// its content (both final: the source acknowledges it), and an error only when storing failed, in which case the
// source must not acknowledge the message so that it is delivered again. *Pipeline implements it.
type Handler interface {
	Handle(ctx context.Context, m Message) error
}

var _ Handler = (*Pipeline)(nil)

// PipelineConfig configures a Pipeline. The zero value is valid: every field has a default.
type PipelineConfig struct {
	// DeadLetterSize is how many rejected messages are kept for inspection, newest first. It defaults to 1000.
	DeadLetterSize int
	// DeadLetterPayloadBytes bounds the payload prefix kept per rejected message. It defaults to 512.
	DeadLetterPayloadBytes int
	// MaxDevices bounds the device registry. When it is full, the longest-silent device is evicted for each new
	// one (RegistryPolicy), counted in citywatch_ingest_devices_evicted_total and logged rate-limited. It
	// defaults to 100000.
	MaxDevices int
	// MaxMetricsPerDevice bounds the last values kept per device: the first metric names seen are kept, later
	// new names are not tracked (their samples are stored as usual). It defaults to 64.
	MaxMetricsPerDevice int
	// DeviceExportInterval is how often Run appends device_last_seen_seconds for every known device. A registry
	// of more than 25,000 devices (at 5s) exports every few intervals instead, so that the export writes at most
	// 5,000 samples per second, and at least once a minute. It defaults to 5s.
	DeviceExportInterval time.Duration
	// MaxFutureSkew is how far ahead of the receive time a sample may be stamped (device clocks run fast);
	// later ones are rejected with reason ts_future before the store, so no device can move the store's time
	// into the future. It defaults to 10m.
	MaxFutureSkew time.Duration
	// MaxSampleAge is how far before the receive time a sample may be stamped; older ones are rejected with
	// reason ts_too_old before the store. Set it to the store's out-of-order window. Zero disables the check.
	MaxSampleAge time.Duration
	// MaxSeriesPerDevice bounds the series one device may have (series not written for one to two hours no
	// longer count); samples of new series beyond it are rejected with reason series_limit while the device's
	// existing series keep flowing. It defaults to 200.
	MaxSeriesPerDevice int
	// RejectLogInterval is the minimum time between two log lines for the same rejection reason; the lines
	// in between are counted and the next line reports how many were suppressed. It defaults to 10s.
	RejectLogInterval time.Duration
	// BatchMaxMessages bounds the messages whose samples one append (one TSDB commit) stores (batch.go). It
	// defaults to 1000.
	BatchMaxMessages int
	// BatchMaxSamples bounds the samples of one append; a single larger message is still appended whole. It
	// defaults to 10000.
	BatchMaxSamples int
	// QueueSize bounds the messages waiting for their batch; when it is full, sources wait (back-pressure). It
	// defaults to 2000.
	QueueSize int
}

// PipelineDeps are the collaborators of a Pipeline. Mapper and Appender are required.
type PipelineDeps struct {
	// Mapper maps messages to samples.
	Mapper Mapper
	// Appender stores samples; Append returns nil only once they are durable.
	Appender store.Appender
	// Logger receives rejections (rate-limited) and device export errors. Nil discards.
	Logger *slog.Logger
	// Registerer receives the pipeline metrics. Nil does not register them.
	Registerer prometheus.Registerer
	// Clock is the pipeline's clock (internal/clock). It defaults to the real one.
	Clock clock.Clock
	// OnReject, when set, is called with every counted rejection (reason, number of messages or samples), for
	// event rules such as the built-in IngestSeriesLimit. It must not block.
	OnReject func(reason string, n int)
	// OnStatus, when set, is called by Run every DeviceExportInterval with the pipeline's status, for the
	// built-in IngestStalled rule; it is called even when the store cannot write. It must not block.
	OnStatus func(Status)
}

// Status is what the pipeline reports about itself every DeviceExportInterval.
type Status struct {
	// Time is when the status was taken.
	Time time.Time
	// Devices is the number of known devices.
	Devices int
	// LastStored is when a message's samples were last stored (the pipeline's start before the first).
	LastStored time.Time
	// Stalled is how long messages have been arriving without any being stored (since the first such message);
	// zero while samples are stored or nothing arrives.
	Stalled time.Duration
}

// Reason labels used by the pipeline itself, besides mapping.Reasons and the "store_<reason>" reasons of
// samples refused by the store.
const (
	// ReasonMapperError counts messages the mapper failed with an error that is not a *mapping.RejectError,
	// or with a reason outside mapping.Reasons.
	ReasonMapperError = "mapper_error"
	// ReasonStoreOther is used for store rejection reasons beyond maxStoreReasons distinct ones.
	ReasonStoreOther = "store_other"
	// ReasonTSFuture counts samples stamped more than MaxFutureSkew ahead of the receive time.
	ReasonTSFuture = "ts_future"
	// ReasonTSTooOld counts samples stamped more than MaxSampleAge before the receive time.
	ReasonTSTooOld = "ts_too_old"
	// ReasonSeriesLimit counts samples of new series beyond a device's MaxSeriesPerDevice, or beyond the
	// store's series limit (store reason store.ReasonSeriesLimit).
	ReasonSeriesLimit = "series_limit"
)

// doorReasons are the reasons of the pipeline's own checks, by verdict.
var doorReasons = [numVerdicts]string{verdictFuture: ReasonTSFuture, verdictTooOld: ReasonTSTooOld,
	verdictSeriesLimit: ReasonSeriesLimit}

// storeReasonAliases gives store reasons that mean the same as a door check the door's reason, so an operator
// sees one reason whichever layer refused.
var storeReasonAliases = map[string]string{store.ReasonFuture: ReasonTSFuture, store.ReasonSeriesLimit: ReasonSeriesLimit}

const (
	maxSources      = 64 // distinct Message.Source values with their own label; more are counted as "other"
	maxStoreReasons = 16 // distinct store rejection reasons with their own label
	maxReasonLen    = 40
	deviceMetric    = "device_last_seen_seconds"
	exportBatch     = 5000
)

// Pipeline maps messages to samples, appends them durably, keeps the device registry and counts, logs and keeps
// every rejection. Handle is safe for concurrent use and cheap: no goroutine and no lock held across Append.
type Pipeline struct {
	cfg      PipelineConfig
	mapper   Mapper
	appender store.Appender
	log      *slog.Logger
	now      func() time.Time

	dead     *deadLetters
	devices  *registry
	stamps   *arrivalStamps
	onReject func(reason string, n int)
	onStatus func(Status)

	lastStored atomic.Int64 // unix nanoseconds when samples of a message were last stored
	// pendingSince is when the first message with samples arrived that is not stored yet (unix nanoseconds), 0
	// when every message that arrived was stored: a stall is messages that arrive and are not stored, not
	// devices that are quiet (device silence is the device rules' job).
	pendingSince atomic.Int64

	mu      sync.Mutex                                // serialises copy-on-write updates of sources and reasons
	sources atomic.Pointer[map[string]*sourceMetrics] // read without locks on the hot path
	reasons atomic.Pointer[map[string]*reasonState]
	nStore  int // distinct store reasons so far, under mu
	// otherSource counts sources beyond maxSources, under mu.
	otherSource *sourceMetrics

	messages     *prometheus.CounterVec
	samples      *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	appendErrors prometheus.Counter
	duration     prometheus.Histogram
	evicted      prometheus.Counter
	exportErrors prometheus.Counter
	storedAt     prometheus.GaugeFunc
	// batchMessages observes the messages per append; queueFull counts submitters that found the queue full.
	batchMessages prometheus.Histogram
	queueFull     prometheus.Counter

	batcher *committer

	exportErr string // last device export error, to log only changes; used by Run only
	// exportBuf holds a batch of the device export, reused from batch to batch; used by Run only.
	exportBuf []store.Sample
}

type sourceMetrics struct {
	messages prometheus.Counter
	samples  prometheus.Counter
}

// reasonState is the counter and the log rate limiter of one rejection reason.
type reasonState struct {
	name       string
	counter    prometheus.Counter
	lastLog    atomic.Int64 // unix nanoseconds of the last log line, 0 = never
	suppressed atomic.Uint64
}

// NewPipeline returns a Pipeline. It fails when a required dependency is missing, a config value is negative,
// or its metrics cannot be registered.
func NewPipeline(cfg PipelineConfig, deps PipelineDeps) (*Pipeline, error) {
	if deps.Mapper == nil {
		return nil, errors.New("ingest: pipeline needs a Mapper")
	}
	if deps.Appender == nil {
		return nil, errors.New("ingest: pipeline needs an Appender")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	p := &Pipeline{
		cfg:      cfg,
		mapper:   deps.Mapper,
		appender: deps.Appender,
		log:      deps.Logger,
		now:      clock.Or(deps.Clock).Now,
		dead:     newDeadLetters(cfg.DeadLetterSize, cfg.DeadLetterPayloadBytes),
		stamps:   newArrivalStamps(),
		onReject: deps.OnReject,
		onStatus: deps.OnStatus,
	}
	p.log = logx.Component(p.log, "ingest")
	p.lastStored.Store(p.now().UnixNano())
	p.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_ingest_messages_total",
		Help: "Messages handled to the end (stored or rejected), by source. Store failures are not counted: those messages are delivered again.",
	}, []string{"source"})
	p.samples = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_ingest_samples_total",
		Help: "Samples durably stored, by source.",
	}, []string{"source"})
	p.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_ingest_rejected_total",
		Help: "Messages rejected by the mapper, and samples refused by the store (reasons store_*), by reason.",
	}, []string{"reason"})
	p.appendErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_append_errors_total",
		Help: "Appends (batches of messages) that failed because the store failed; their messages were not acknowledged.",
	})
	p.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "citywatch_ingest_handle_duration_seconds",
		Help:    "Time to map, store and register one message.",
		Buckets: prometheus.ExponentialBuckets(0.000005, 4, 10), // 5µs .. 1.3s
	})
	p.evicted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_devices_evicted_total",
		Help: "Devices evicted from the full device registry (longest-silent first).",
	})
	p.batchMessages = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "citywatch_ingest_batch_messages",
		Help:    "Messages whose samples one store append (one TSDB commit) stored together.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 7), // 1 .. 4096
	})
	p.queueFull = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_queue_full_total",
		Help: "Messages that waited because the commit queue was full (back-pressure to their source).",
	})
	p.batcher = newCommitter(p, cfg.QueueSize, cfg.BatchMaxMessages, cfg.BatchMaxSamples)
	p.exportErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_device_export_errors_total",
		Help: "Failed appends of device_last_seen_seconds.",
	})
	p.devices = newRegistry(cfg.MaxDevices, cfg.MaxMetricsPerDevice, cfg.MaxSeriesPerDevice, p.evicted, p.log)
	p.devices.now = p.now
	p.storedAt = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_ingest_last_stored_timestamp_seconds",
		Help: "When samples of a message were last stored (Unix seconds; the pipeline's start before the first).",
	}, func() float64 { return float64(p.lastStored.Load()) / 1e9 })
	devicesGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_ingest_devices",
		Help: "Devices in the device registry.",
	}, func() float64 { return float64(p.devices.len()) })

	reasons := make(map[string]*reasonState, len(mapping.Reasons)+1)
	for _, r := range append([]string{ReasonMapperError, ReasonTSFuture, ReasonTSTooOld, ReasonSeriesLimit}, mapping.Reasons...) {
		reasons[r] = &reasonState{name: r, counter: p.rejected.WithLabelValues(r)}
	}
	p.reasons.Store(&reasons)
	sources := map[string]*sourceMetrics{}
	p.sources.Store(&sources)

	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{p.messages, p.samples, p.rejected, p.appendErrors, p.duration,
			p.evicted, p.exportErrors, devicesGauge, p.storedAt, p.batchMessages, p.queueFull} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: registering metrics: %w", err)
			}
		}
	}
	return p, nil
}

func (c *PipelineConfig) setDefaults() error {
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"DeadLetterSize", &c.DeadLetterSize, 1000},
		{"DeadLetterPayloadBytes", &c.DeadLetterPayloadBytes, 512},
		{"MaxDevices", &c.MaxDevices, 100000},
		{"MaxMetricsPerDevice", &c.MaxMetricsPerDevice, 64},
		{"MaxSeriesPerDevice", &c.MaxSeriesPerDevice, 200},
		{"BatchMaxMessages", &c.BatchMaxMessages, 1000},
		{"BatchMaxSamples", &c.BatchMaxSamples, 10000},
		{"QueueSize", &c.QueueSize, 2000},
	}
	for _, f := range ints {
		if *f.v < 0 {
			return fmt.Errorf("ingest: %s must be >= 0, got %d", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"DeviceExportInterval", &c.DeviceExportInterval, 5 * time.Second},
		{"RejectLogInterval", &c.RejectLogInterval, 10 * time.Second},
		{"MaxFutureSkew", &c.MaxFutureSkew, 10 * time.Minute},
		{"MaxSampleAge", &c.MaxSampleAge, 0},
	}
	for _, f := range durs {
		if *f.v < 0 {
			return fmt.Errorf("ingest: %s must be >= 0, got %s", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return nil
}

// Handle maps, stores and registers one message. It returns nil when the message is stored or rejected for its
// content (counted, logged rate-limited, kept in the dead-letter list), and a non-nil error only when the store
// failed (or ctx ended first): then nothing is counted as stored and the source must not acknowledge the
// message. Samples the store refuses for what they are (a *store.RejectedError) are counted as rejected with
// reason "store_<reason>" and are not a failure. The samples of messages handled at the same time are stored
// by one append (batch.go); Handle returns when that append returned.
func (p *Pipeline) Handle(ctx context.Context, m Message) error {
	p.batcher.active.Add(1)
	defer p.batcher.active.Add(-1)
	pd := p.prepare(m)
	if pd == nil {
		return nil
	}
	if err := p.batcher.submit(ctx, pd, true); err != nil {
		return err // pd was not queued; not recycled, for simplicity
	}
	select {
	case err := <-pd.ch:
		pd.release()
		return err
	case <-ctx.Done():
		// The message may still be stored: the source redelivers it, as after any failure (at least once).
		return fmt.Errorf("ingest: waiting for the commit: %w", ctx.Err())
	}
}

// HandleAsync is Handle without waiting: it returns once the message is queued for its batch (waiting only
// while the queue is full, until ctx ends) and calls done exactly once with what Handle would have returned,
// possibly before HandleAsync returns (messages without samples to store). done is called from the pipeline's
// commit goroutine in the order messages were queued; it must not block for long, as the next batch waits.
func (p *Pipeline) HandleAsync(ctx context.Context, m Message, done func(error)) {
	p.batcher.active.Add(1)
	pd := p.prepare(m)
	if pd == nil {
		p.batcher.active.Add(-1)
		done(nil)
		return
	}
	pd.done = done
	err := p.batcher.submit(ctx, pd, false)
	p.batcher.active.Add(-1)
	if err != nil {
		done(err)
	}
}

// HandleAsyncMessage is HandleAsync with a completion that is given the message back, so that the caller
// keeps nothing of its own for a message until it is complete (the embedded broker's QoS 0 publishes, whose
// completion only reports a failure). done must not use the message's Payload: its source may have reused it.
func (p *Pipeline) HandleAsyncMessage(ctx context.Context, m Message, done func(Message, error)) {
	p.batcher.active.Add(1)
	pd := p.prepare(m)
	if pd == nil {
		p.batcher.active.Add(-1)
		done(m, nil)
		return
	}
	pd.doneMsg = done
	err := p.batcher.submit(ctx, pd, false)
	p.batcher.active.Add(-1)
	if err != nil {
		done(m, err)
	}
}

// prepare maps a message and checks its samples at the door. It returns the message to commit, or nil when
// there is nothing to store (rejected, or no samples) and the message is finished.
func (p *Pipeline) prepare(m Message) *pending {
	start := m.Received
	if start.IsZero() || start == start.Round(0) {
		// The handling is timed from the receive time when it is this process' own reading of the clock (one
		// with a monotonic reading, which Round(0) strips): one clock read less per message.
		start = time.Now()
	}
	recv := m.Received
	if recv.IsZero() {
		recv = p.now()
	}
	pd := pendings.Get().(*pending)
	var res mapping.Result
	var err error
	am, pooled := p.mapper.(appendMapper)
	if pooled {
		res, err = am.MapAppend(pd.buf, m.Topic, m.Payload, recv)
	} else {
		res, err = p.mapper.Map(m.Topic, m.Payload, recv) // its slice is the mapper's: not ours to reuse
	}
	if err != nil {
		pd.release()
		p.reject(m, p.mapReason(err), err, 1)
		if res.Device != "" {
			p.devices.seen(&mapping.Result{Device: res.Device, DeviceLabels: res.DeviceLabels}, recv, true)
		}
		p.source(m.Source).messages.Inc()
		p.duration.Observe(time.Since(start).Seconds())
		return nil
	}
	if pooled && cap(res.Samples) <= maxPooledSamples {
		pd.buf = res.Samples // reused by the next message of this pending entry, after release
	}
	pd.m, pd.recv, pd.start = m, recv, start
	if len(res.Samples) > 0 {
		p.pendingSince.CompareAndSwap(0, recv.UnixNano())
		res.Samples, pd.rejected = p.door(pd, m, &res, recv)
	}
	pd.res = res
	if len(res.Samples) == 0 {
		p.finish(pd, 0, time.Time{}, time.Time{})
		pd.release()
		return nil
	}
	return pd
}

// finish registers a message whose samples were stored (stored of them) or refused, and counts it. storedAt
// (the pipeline's clock) and end (the wall clock) are when its batch was stored, read once per batch; zero
// reads them here.
func (p *Pipeline) finish(pd *pending, stored int, storedAt, end time.Time) {
	p.finishTally(pd, stored, storedAt, end, nil)
}

// finishTally is finish with the message's counts added to tally instead of the counters, when tally is not
// nil: the caller flushes it (a batch adds to the counters once per run of one source, not once per message).
func (p *Pipeline) finishTally(pd *pending, stored int, storedAt, end time.Time, tally *sourceTally) {
	if stored > 0 {
		if storedAt.IsZero() {
			storedAt = p.now()
		}
		if ns := storedAt.UnixNano(); ns > p.lastStored.Load() {
			p.lastStored.Store(ns)
		}
		if p.pendingSince.Load() != 0 {
			p.pendingSince.Store(0)
		}
	}
	res := &pd.res
	if res.Device != "" {
		if pd.rejected {
			// Which samples the store refused is unknown: keep the last values of fully stored messages only.
			res.Samples = nil
		}
		p.devices.seenEntry(pd.dev, res, pd.recv, pd.rejected)
	}
	if tally != nil {
		tally.add(p, pd.m.Source, stored)
	} else {
		sm := p.source(pd.m.Source)
		sm.messages.Inc()
		if stored > 0 {
			sm.samples.Add(float64(stored))
		}
	}
	if end.IsZero() {
		end = time.Now()
	}
	p.duration.Observe(end.Sub(pd.start).Seconds())
}

// door stamps arrival-timed samples and refuses, before the store, samples stamped too far ahead or behind the
// receive time and samples of new series beyond the device's series limit. It returns the samples to store
// (res.Samples itself when none was refused) and whether any was refused (counted, logged and dead-lettered).
func (p *Pipeline) door(pd *pending, m Message, res *mapping.Result, recv time.Time) ([]store.Sample, bool) {
	b := timeBounds{recv: recv, min: math.MinInt64, max: math.MaxInt64}
	recvMs := recv.UnixMilli()
	if p.cfg.MaxSampleAge > 0 {
		b.min = recvMs - p.cfg.MaxSampleAge.Milliseconds()
	}
	b.max = recvMs + p.cfg.MaxFutureSkew.Milliseconds()
	samples := res.Samples
	if res.ArrivalTime {
		t, ok := p.stamps.stamp(m.Topic, recvMs, p.cfg.MaxFutureSkew)
		if !ok {
			err := fmt.Errorf("topic %.200q: more than %s of readings without a time arrived faster than one a "+
				"millisecond; each needs a millisecond of its own and would be stamped ahead of ingest.max_future_skew "+
				"(send a ts field with the readings)", m.Topic, p.cfg.MaxFutureSkew)
			p.reject(m, p.reasonState(ReasonTSFuture), err, len(samples))
			return nil, true
		}
		for i := range samples {
			samples[i].T = t
		}
	}
	var r refusals
	keep := samples
	for i := range samples {
		v := verdictOK
		switch t := samples[i].T; {
		case t > b.max:
			v = verdictFuture
		case t < b.min:
			v = verdictTooOld
		}
		if v != verdictOK {
			if !r.any() {
				keep = slices.Clone(samples[:i])
			}
			r.add(v, &samples[i])
			continue
		}
		if r.any() {
			keep = append(keep, samples[i])
		}
	}
	if res.Device != "" {
		var n int
		var first store.Sample
		keep, n, first, pd.dev = p.devices.admitSeries(res, keep, recv)
		if n > 0 {
			r.count[verdictSeriesLimit], r.first[verdictSeriesLimit] = n, first
		}
	}
	if !r.any() {
		return samples, false
	}
	for v := verdictFuture; v < numVerdicts; v++ {
		if r.count[v] > 0 {
			p.reject(m, p.reasonState(doorReasons[v]), r.errFor(v, b, &p.cfg, res.Device), r.count[v])
		}
	}
	return keep, true
}

// reasonState returns the state of one of the pipeline's preinitialised reasons.
func (p *Pipeline) reasonState(reason string) *reasonState { return (*p.reasons.Load())[reason] }

// Status returns the pipeline's status now: stalled since the first message that arrived and was not stored,
// while messages keep arriving and none is stored (the store refuses or fails every write). Devices that are
// merely quiet are not a stall.
func (p *Pipeline) Status() Status {
	now := p.now()
	last := p.lastStored.Load()
	st := Status{Time: now, Devices: p.devices.len(), LastStored: time.Unix(0, last)}
	if since := p.pendingSince.Load(); since != 0 {
		st.Stalled = max(now.Sub(time.Unix(0, since)), 0)
	}
	return st
}

// Rejected returns the kept rejected messages, newest first.
func (p *Pipeline) Rejected() []Rejected { return p.dead.list() }

// Devices returns every device in the registry, sorted by ID.
func (p *Pipeline) Devices() []Device { return p.devices.list() }

// DeviceSamples returns one device_last_seen_seconds sample per known device at time now: the seconds since
// the device was last seen, labelled with its device labels.
func (p *Pipeline) DeviceSamples(now time.Time) []store.Sample { return p.devices.samples(now) }

// Run appends DeviceSamples every DeviceExportInterval until ctx is done, then returns nil. Export failures are
// counted in citywatch_ingest_device_export_errors_total and logged when the error changes. Run once per
// Pipeline; Handle does not need it.
func (p *Pipeline) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.DeviceExportInterval)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			// A large registry exports every few ticks, so that its samples per second stay bounded (exportTicks).
			if ticks++; ticks >= p.devices.exportTicks(p.cfg.DeviceExportInterval) {
				ticks = 0
				p.exportDevices(ctx)
			}
			if p.onStatus != nil {
				p.onStatus(p.Status())
			}
		}
	}
}

func (p *Pipeline) exportDevices(ctx context.Context) {
	now := p.now()
	for shard := 0; shard < registryShards; {
		p.exportBuf, shard = p.devices.appendSamples(p.exportBuf[:0], now, shard, exportBatch)
		if len(p.exportBuf) == 0 {
			continue
		}
		err := p.appender.Append(ctx, p.exportBuf)
		var rej *store.RejectedError
		if err == nil || errors.As(err, &rej) {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		p.exportErrors.Inc()
		if msg := err.Error(); msg != p.exportErr {
			p.exportErr = msg
			p.log.Warn("ingest: exporting device_last_seen_seconds failed", "err", err)
		}
		return
	}
	if p.exportErr != "" {
		p.exportErr = ""
		p.log.Info("ingest: exporting device_last_seen_seconds works again")
	}
}

// reject counts n rejections for reason, keeps the message in the dead-letter list and logs it rate-limited.
func (p *Pipeline) reject(m Message, reason *reasonState, err error, n int) {
	if n > 0 {
		reason.counter.Add(float64(n))
	}
	if p.onReject != nil {
		p.onReject(reason.name, max(n, 1))
	}
	now := p.now()
	p.dead.add(now, m, reason.name, err)

	interval := p.cfg.RejectLogInterval.Nanoseconds()
	ns := now.UnixNano()
	last := reason.lastLog.Load()
	if last != 0 && ns-last < interval || !reason.lastLog.CompareAndSwap(last, ns) {
		reason.suppressed.Add(1)
		return
	}
	p.log.Warn("ingest: message rejected", "reason", reason.name, "source", m.Source,
		"topic", clip(m.Topic, maxTopicBytes), "client_id", m.ClientID, "err", clip(err.Error(), maxErrorBytes),
		"suppressed", reason.suppressed.Swap(0))
}

// mapReason returns the reason state for a mapper error. Reasons outside the closed set are counted as
// ReasonMapperError so the label stays bounded.
func (p *Pipeline) mapReason(err error) *reasonState {
	reasons := *p.reasons.Load()
	var rej *mapping.RejectError
	if errors.As(err, &rej) {
		if r, ok := reasons[rej.Reason]; ok && !isStoreReason(rej.Reason) {
			return r
		}
	}
	return reasons[ReasonMapperError]
}

func isStoreReason(r string) bool { return len(r) > 6 && r[:6] == "store_" }

// storeReason returns the reason state "store_<reason>" for a store rejection, creating it on first use. The
// store's reason is sanitised and the number of distinct ones bounded, so the label stays bounded.
func (p *Pipeline) storeReason(reason string) *reasonState {
	if alias, ok := storeReasonAliases[reason]; ok {
		return p.reasonState(alias)
	}
	name := "store_" + sanitizeReason(reason)
	if r, ok := (*p.reasons.Load())[name]; ok {
		return r
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.reasons.Load()
	if r, ok := old[name]; ok {
		return r
	}
	if p.nStore >= maxStoreReasons {
		name = ReasonStoreOther
		if r, ok := old[name]; ok {
			return r
		}
	}
	p.nStore++
	r := &reasonState{name: name, counter: p.rejected.WithLabelValues(name)}
	next := make(map[string]*reasonState, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = r
	p.reasons.Store(&next)
	return r
}

func sanitizeReason(s string) string {
	b := make([]byte, 0, min(len(s), maxReasonLen))
	for i := 0; i < len(s) && len(b) < maxReasonLen; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "unknown"
	}
	return string(b)
}

// source returns the counters of a source name, creating them on first use; names beyond maxSources share
// the label "other". Source names come from configuration, so this bound is only a safety net.
func (p *Pipeline) source(name string) *sourceMetrics {
	if s, ok := (*p.sources.Load())[name]; ok {
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.sources.Load()
	if s, ok := old[name]; ok {
		return s
	}
	if len(old) >= maxSources {
		if p.otherSource == nil {
			p.otherSource = &sourceMetrics{messages: p.messages.WithLabelValues("other"),
				samples: p.samples.WithLabelValues("other")}
		}
		return p.otherSource
	}
	label := name
	if label == "" {
		label = "unknown" // an empty label value would read as no label at all
	}
	s := &sourceMetrics{messages: p.messages.WithLabelValues(label), samples: p.samples.WithLabelValues(label)}
	next := make(map[string]*sourceMetrics, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = s
	p.sources.Store(&next)
	return s
}

// sourceTally sums the counts of consecutive messages of one source.
type sourceTally struct {
	name              string
	sm                *sourceMetrics
	messages, samples int
}

func (t *sourceTally) add(p *Pipeline, source string, stored int) {
	if t.sm == nil || source != t.name {
		t.flush()
		t.name, t.sm = source, p.source(source)
	}
	t.messages++
	t.samples += stored
}

// flush adds the sums to the counters.
func (t *sourceTally) flush() {
	if t.sm == nil {
		return
	}
	if t.messages > 0 {
		t.sm.messages.Add(float64(t.messages))
	}
	if t.samples > 0 {
		t.sm.samples.Add(float64(t.samples))
	}
	t.messages, t.samples = 0, 0
}
