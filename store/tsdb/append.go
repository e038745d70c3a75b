package tsdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	promtsdb "github.com/prometheus/prometheus/tsdb"

	"citywatch/store"
)

// Append stores samples. It returns nil only after the TSDB head appender committed them, that is after they
// were written to the write-ahead log (handed to the operating system: a killed process loses nothing, a
// power cut may lose the last unsynced WAL page, as with Prometheus). Samples the TSDB refuses for what they
// are (too old for the out-of-order window, a duplicate timestamp with another value, an invalid series) are
// reported through a *store.RejectedError while the others are committed. Any other error means nothing of
// the call was stored and the call may be retried.
//
// Append is safe for concurrent use. Calls that touch the same series are serialised, so the TSDB's
// appendability checks see each other's samples and nothing is dropped silently at commit.
func (d *DB) Append(ctx context.Context, samples []store.Sample) error {
	if len(samples) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store/tsdb: append: %w", err)
	}
	start := time.Now()

	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closed {
		return ErrClosed
	}

	b := d.getBatch(samples)
	defer d.putBatch(b)
	for _, i := range b.locked {
		d.shards[i].mu.Lock()
		d.shards[i].maybeRotate(start)
	}
	defer func() {
		for _, i := range b.locked {
			d.shards[i].mu.Unlock()
		}
	}()

	app := d.db.Appender(ctx)
	var rej rejections
	appended := 0
	runT := int64(math.MinInt64)
	var g *seriesGroup
	var hs *hintState // the hint of the current group's samples, when usable
	var groupLabels []store.Label
	grouped := false
	limit := int64(math.MaxInt64)
	if d.cfg.MaxFutureSkew > 0 {
		limit = d.now().Add(d.cfg.MaxFutureSkew).UnixMilli()
	}
	for _, i := range b.order {
		s := &samples[i]
		if s.T > limit {
			// Defence in depth: whoever the caller, no sample may move the database's newest time ahead.
			rej.add(ReasonFuture, samples, i, fmt.Errorf("stamped %s ahead of the clock, more than the %s allowed",
				aheadOf(s.T, limit-d.cfg.MaxFutureSkew.Milliseconds()), d.cfg.MaxFutureSkew))
			continue
		}
		sh := &d.shards[b.shardOf[i]]
		// The samples of one message share their labels: find the group of their series once per message
		// (from the samples' hint when it has it), then each series by its name in the group, instead of a map
		// lookup and a label walk per sample.
		if !grouped || !sameLabels(s.Labels, groupLabels) {
			hs = b.hints[i]
			if hs != nil && hs.gen == sh.gen {
				g = hs.g
			} else {
				g = sh.group(b.labelHashes[i], s.Labels)
			}
			groupLabels, grouped = s.Labels, true
		}
		e := g.find(s.Name)
		var h uint64 // the series hash, computed only when the group does not know the series
		if e == nil {
			_, h = seriesHashes(s)
			if e = sh.lookup(h, s); e != nil {
				g = sh.addToGroup(g, b.labelHashes[i], s, e)
			}
		}
		if e == nil {
			lset, err := buildLabels(s, &b.sb)
			if err != nil {
				rej.add(ReasonInvalidSeries, samples, i, err)
				continue
			}
			if full, n := d.headFull(); full {
				if !inHead(app, lset) {
					// Not cached: a refused series must not grow the cache either.
					rej.add(ReasonSeriesLimit, samples, i, fmt.Errorf("new series refused: the head holds %d series, the limit is %d "+
						"(storage.tsdb.max_head_series); existing series are still stored", n, d.cfg.MaxHeadSeries))
					continue
				}
			}
			if e = sh.lookupSet(h, lset); e == nil {
				e = newSeriesEntry(lset)
				sh.insert(h, e)
			}
			if e.matches(s) {
				// A new series joins its label set's group at once, so that the next message of a new device
				// (the second of a fleet's first two) finds it through the group, or the hint set below.
				g = sh.addToGroup(g, b.labelHashes[i], s, e)
			}
		}
		if s.Hint != nil && g != nil && (hs == nil || hs.g != g || hs.gen != sh.gen) {
			hs = &hintState{sh: sh, gen: sh.gen, lhash: b.labelHashes[i], g: g, labels: s.Labels}
			s.Hint.Store(hs)
		}
		if s.T != runT {
			runT = s.T
			b.resetRun()
		}
		if prev, seen := b.seenInRun(e); seen {
			if math.Float64bits(prev) == math.Float64bits(s.V) {
				appended++ // The same reading twice: stored once, as the TSDB does.
				continue
			}
			rej.add(ReasonDuplicate, samples, i, storage.NewDuplicateFloatErr(s.T, prev, s.V))
			continue
		}
		ref, err := app.Append(e.ref, e.lset, s.T, s.V)
		if err != nil {
			reason, ok := classify(err)
			if !ok {
				rerr := app.Rollback()
				return errors.Join(fmt.Errorf("store/tsdb: append %s: %w", store.LabelsString(s.Name, s.Labels), err), rerr)
			}
			rej.add(reason, samples, i, err)
			continue
		}
		e.ref = ref
		b.addToRun(e, s.V)
		appended++
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("store/tsdb: commit %d samples to %s: %w", appended, d.cfg.Dir, err)
	}

	d.metrics.samplesAppended.Add(float64(appended))
	for r, n := range rej.perReason {
		if n > 0 {
			d.metrics.samplesRejected.WithLabelValues(allReasons[r]).Add(float64(n))
		}
	}
	d.metrics.appendDuration.Observe(time.Since(start).Seconds())
	return rej.err()
}

// headFull reports whether the head holds MaxHeadSeries series or more, and how many it holds.
func (d *DB) headFull() (bool, uint64) {
	if d.cfg.MaxHeadSeries <= 0 {
		return false, 0
	}
	n := d.db.Head().NumSeries()
	return n >= uint64(d.cfg.MaxHeadSeries), n
}

// inHead reports whether the series lset exists in the head.
func inHead(app storage.Appender, lset labels.Labels) bool {
	g, ok := app.(storage.GetRef)
	if !ok {
		return false
	}
	ref, _ := g.GetRef(lset, lset.Hash())
	return ref != 0
}

// aheadOf renders how far the Unix millisecond time t is after ref, without overflowing for far-future times.
func aheadOf(t, ref int64) string {
	d := t - ref
	if d > math.MaxInt64/int64(time.Millisecond) {
		return fmt.Sprintf("%d days", d/(24*3600*1000))
	}
	return (time.Duration(d) * time.Millisecond).String()
}

// classify maps a TSDB append error to a rejection reason; ok is false for errors that are failures of the
// store rather than of the sample.
func classify(err error) (reason string, ok bool) {
	switch {
	case errors.Is(err, storage.ErrOutOfBounds):
		return ReasonOutOfBounds, true
	case errors.Is(err, storage.ErrTooOldSample):
		return ReasonTooOld, true
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return ReasonOutOfOrder, true
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return ReasonDuplicate, true
	case errors.Is(err, promtsdb.ErrInvalidSample):
		return ReasonInvalidSeries, true
	}
	return "", false
}

// rejections aggregates the refused samples of one call into one *store.RejectedError.
type rejections struct {
	count     int
	reason    string
	first     error
	perReason [len(allReasons)]int
	sample    []string // reason per sample of the call, "" when stored; allocated at the first refusal
}

func (r *rejections) add(reason string, samples []store.Sample, i int, err error) {
	s := &samples[i]
	if r.sample == nil {
		r.sample = make([]string, len(samples))
	}
	r.sample[i] = reason
	if r.count == 0 {
		r.reason = reason
		r.first = fmt.Errorf("%s @%d: %w", store.LabelsString(s.Name, s.Labels), s.T, err)
	} else if r.reason != reason {
		r.reason = ReasonMultiple
	}
	r.count++
	if i := slices.Index(allReasons[:], reason); i >= 0 {
		r.perReason[i]++
	}
}

func (r *rejections) err() error {
	if r.count == 0 {
		return nil
	}
	return &store.RejectedError{Count: r.count, Reason: r.reason, Err: r.first, SampleReasons: r.sample}
}

// buildLabels validates a new series and builds its TSDB label set.
func buildLabels(s *store.Sample, sb *labels.ScratchBuilder) (labels.Labels, error) {
	if s.Name == "" {
		return labels.EmptyLabels(), errors.New("empty metric name")
	}
	if !utf8.ValidString(s.Name) {
		return labels.EmptyLabels(), fmt.Errorf("metric name %q is not valid UTF-8", s.Name)
	}
	sb.Reset()
	sb.Add(labels.MetricName, s.Name)
	for _, l := range s.Labels {
		switch {
		case l.Name == "":
			return labels.EmptyLabels(), errors.New("empty label name")
		case l.Name == labels.MetricName:
			return labels.EmptyLabels(), errors.New(`label name "__name__" is reserved: the metric name is Sample.Name`)
		case !utf8.ValidString(l.Name):
			return labels.EmptyLabels(), fmt.Errorf("label name %q is not valid UTF-8", l.Name)
		case !utf8.ValidString(l.Value):
			return labels.EmptyLabels(), fmt.Errorf("value %q of label %q is not valid UTF-8", l.Value, l.Name)
		case l.Value == "":
			continue // An empty label value is the same as no label, in PromQL and in the TSDB.
		}
		sb.Add(l.Name, l.Value)
	}
	sb.Sort()
	ls := sb.Labels()
	if name, dup := ls.HasDuplicateLabelNames(); dup {
		return labels.EmptyLabels(), fmt.Errorf("label name %q is repeated", name)
	}
	return ls, nil
}

// seriesHashes returns the hash of a sample's labels, which picks its shard (so the samples of one message,
// which share labels, lock one shard), and the hash of labels and name, which keys the series cache.
func seriesHashes(s *store.Sample) (shardHash, seriesHash uint64) {
	d := labelsDigest(s.Labels)
	return seriesHashesFrom(&d, s.Name)
}

// labelsDigest returns the hash state after a sample's labels.
func labelsDigest(ls []store.Label) xxhash.Digest {
	var d xxhash.Digest
	d.Reset()
	for _, l := range ls {
		_, _ = d.WriteString(l.Name)
		_, _ = d.WriteString("\xff")
		_, _ = d.WriteString(l.Value)
		_, _ = d.WriteString("\xff")
	}
	return d
}

// seriesHashesFrom finishes seriesHashes from a labels digest, which it leaves unchanged.
func seriesHashesFrom(labelsDigest *xxhash.Digest, name string) (shardHash, seriesHash uint64) {
	return labelsDigest.Sum64(), seriesHashFrom(labelsDigest, name)
}

// seriesHashFrom is seriesHashes' series hash from a labels digest, which it leaves unchanged.
func seriesHashFrom(labelsDigest *xxhash.Digest, name string) uint64 {
	d := *labelsDigest
	_, _ = d.WriteString(name)
	return d.Sum64()
}

// sameLabels reports whether a and b are the same slice: the samples of one message usually share it, so
// its hash is computed once.
func sameLabels(a, b []store.Label) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// batch is the per-call scratch space of Append, pooled.
type batch struct {
	// labelHashes is the hash of each sample's labels alone, which keys its series group (shard.groups).
	labelHashes []uint64
	// hints is each sample's usable series hint (hintOf), or nil.
	hints   []*hintState
	shardOf []uint8
	order   []int
	locked  []uint8
	sb      labels.ScratchBuilder

	run    []runItem
	runMap map[uint64]runSlot // lsetHash → index in run, used for long runs
	runGen uint32             // the current run's generation in runMap
}

// runItem is a sample accepted earlier in the current call with the current timestamp.
type runItem struct {
	e *seriesEntry
	v float64
}

// runSlot is an index in the run of generation gen.
type runSlot struct {
	i   int32
	gen uint32
}

// runMapThreshold is the run length above which duplicate detection switches from a scan to a map.
const runMapThreshold = 32

func (d *DB) getBatch(samples []store.Sample) *batch {
	b, _ := d.batches.Get().(*batch)
	if b == nil {
		b = &batch{sb: labels.NewScratchBuilder(8)}
	}
	n := len(samples)
	b.labelHashes = slices.Grow(b.labelHashes[:0], n)[:n]
	b.hints = slices.Grow(b.hints[:0], n)[:n]
	b.shardOf = slices.Grow(b.shardOf[:0], n)[:n]
	b.order = slices.Grow(b.order[:0], n)[:n]
	b.locked = b.locked[:0]
	sorted := true
	var shards uint64 // bit i: shard i is locked (numShards is 64)
	var sh uint64
	var hs *hintState
	for i := range samples {
		// The samples of one message share their labels: digest them, and finish the shard hash, once; a
		// sample's hint has the hash already.
		if i == 0 || !sameLabels(samples[i].Labels, samples[i-1].Labels) || samples[i].Hint != samples[i-1].Hint {
			if hs = d.hintOf(&samples[i]); hs != nil {
				sh = hs.lhash
			} else {
				ld := labelsDigest(samples[i].Labels)
				sh = ld.Sum64()
			}
		}
		b.labelHashes[i] = sh
		b.hints[i] = hs
		b.shardOf[i] = uint8(sh % numShards)
		b.order[i] = i
		if i > 0 && samples[i].T < samples[i-1].T {
			sorted = false
		}
		shards |= 1 << b.shardOf[i]
	}
	// Shards are locked in ascending order so that concurrent calls cannot deadlock.
	for ; shards != 0; shards &= shards - 1 {
		b.locked = append(b.locked, uint8(bits.TrailingZeros64(shards)))
	}
	// Samples are appended in time order (stable for equal times): the TSDB checks each sample against the
	// committed series only, so a series' samples must reach it oldest first to be committed in order.
	if !sorted {
		slices.SortStableFunc(b.order, func(x, y int) int { return cmp.Compare(samples[x].T, samples[y].T) })
	}
	return b
}

func (d *DB) putBatch(b *batch) {
	if cap(b.labelHashes) > 1<<16 {
		return // Do not keep the scratch space of an unusually large call.
	}
	b.resetRun()
	clear(b.runMap)
	clear(b.hints) // keep no groups alive from the pool
	b.runGen = 0
	d.batches.Put(b)
}

// resetRun starts a new run. The run map is not cleared (clearing a map costs its whole table, at every new
// timestamp of a call): its slots of earlier runs are told apart by their generation.
func (b *batch) resetRun() {
	clear(b.run)
	b.run = b.run[:0]
	b.runGen++
}

// seenInRun reports whether the series of e already got a sample at the current timestamp in this call, and
// its value. Series are compared by label set, not by cache entry, so that two spellings of one series (labels
// in another order) are still caught.
func (b *batch) seenInRun(e *seriesEntry) (float64, bool) {
	if len(b.run) > runMapThreshold {
		slot, ok := b.runMap[e.lsetHash]
		if !ok || slot.gen != b.runGen {
			return 0, false
		}
		if it := &b.run[slot.i]; labels.Equal(it.e.lset, e.lset) {
			return it.v, true
		}
		// A hash collision between two label sets: fall back to the scan.
	}
	for _, it := range b.run {
		if it.e == e || (it.e.lsetHash == e.lsetHash && labels.Equal(it.e.lset, e.lset)) {
			return it.v, true
		}
	}
	return 0, false
}

func (b *batch) addToRun(e *seriesEntry, v float64) {
	b.run = append(b.run, runItem{e: e, v: v})
	switch {
	case len(b.run) <= runMapThreshold:
		return
	case b.runMap == nil:
		b.runMap = make(map[uint64]runSlot)
	}
	if len(b.run) == runMapThreshold+1 {
		for i, it := range b.run {
			b.setRunSlot(it.e.lsetHash, i)
		}
		return
	}
	b.setRunSlot(e.lsetHash, len(b.run)-1)
}

// setRunSlot records that the run's item i has the label set hash h, unless an earlier item of the run has it.
func (b *batch) setRunSlot(h uint64, i int) {
	if slot, ok := b.runMap[h]; !ok || slot.gen != b.runGen {
		b.runMap[h] = runSlot{i: int32(i), gen: b.runGen}
	}
}

// numShards is the number of series-cache shards, each with its own lock.
const numShards = 64

// cacheGeneration is how often a shard's cache generation turns over: a series not appended to for one to
// two generations is forgotten (the TSDB garbage-collects idle series from its head too), which bounds the
// cache to the recently active series.
const cacheGeneration = time.Hour

// seriesEntry caches a series' TSDB reference, keyed by the hash of the sample's name and labels as given. It
// holds no copy of the labels: the label set is the one the head's series holds (the same string, shared), and
// a sample is matched against it, so a cached series costs 48 bytes plus its map slot on top of the TSDB's own.
type seriesEntry struct {
	lset     labels.Labels
	lsetHash uint64
	// ref is the TSDB head reference, 0 until the first append. A stale reference (series garbage-collected
	// from the head) is harmless: the TSDB then falls back to lset and returns the new reference.
	ref  storage.SeriesRef
	next *seriesEntry // Next entry with the same hash.
}

func newSeriesEntry(lset labels.Labels) *seriesEntry {
	return &seriesEntry{lset: lset, lsetHash: lset.Hash()}
}

// errNoMatch stops matches' walk over the label set at the first difference.
var errNoMatch = errors.New("no match")

// matches reports whether the sample is the entry's series: its name and its non-empty labels, in the order
// given, are exactly the label set's (whose __name__ sits where it sorts). A sample whose labels are not
// sorted does not match and takes the slow path (buildLabels, then the chain is searched by label set).
func (e *seriesEntry) matches(s *store.Sample) bool {
	return e.matchesLabels(s.Labels, s.Name, true)
}

// matchesLabels is matches for labels ls and, when byName, the metric name; without byName the entry's name
// is not compared (a series group's label check).
func (e *seriesEntry) matchesLabels(ls []store.Label, name string, byName bool) bool {
	j, named := 0, false
	err := e.lset.Validate(func(l labels.Label) error {
		if l.Name == labels.MetricName {
			if byName && l.Value != name {
				return errNoMatch
			}
			named = true
			return nil
		}
		for j < len(ls) && ls[j].Value == "" {
			j++
		}
		if j == len(ls) || ls[j] != (store.Label{Name: l.Name, Value: l.Value}) {
			return errNoMatch
		}
		j++
		return nil
	})
	if err != nil || !named {
		return false
	}
	for ; j < len(ls); j++ {
		if ls[j].Value != "" {
			return false
		}
	}
	return true
}

// shard is one lock and one slice of the series cache, in two generations.
type shard struct {
	mu   sync.Mutex
	cur  map[uint64]*seriesEntry
	prev map[uint64]*seriesEntry
	// groups index the current generation's entries by label set (group.go); they are rebuilt after each
	// rotation, as the series are looked up again.
	groups map[uint64]*seriesGroup
	// gen counts the generation turnovers: a series hint of an earlier generation is not used (hint.go).
	gen     uint64
	lookups uint64 // per-series lookups (lookup calls), which series groups spare; for tests
	// groupLookups counts group calls, which series hints spare; for tests.
	groupLookups uint64
	rotated      time.Time
	_            [64]byte // Keep neighbouring shards' locks off one cache line.
}

func (s *shard) init(now time.Time) {
	s.cur = make(map[uint64]*seriesEntry)
	s.groups = make(map[uint64]*seriesGroup)
	s.rotated = now
}

func (s *shard) maybeRotate(now time.Time) {
	if now.Sub(s.rotated) < cacheGeneration {
		return
	}
	s.prev = s.cur
	s.cur = make(map[uint64]*seriesEntry, len(s.prev))
	s.groups = make(map[uint64]*seriesGroup, len(s.groups))
	s.gen++
	s.rotated = now
}

// lookup returns the cached entry of the sample's series, promoting it from the previous generation.
func (s *shard) lookup(h uint64, smp *store.Sample) *seriesEntry {
	s.lookups++
	for e := s.cur[h]; e != nil; e = e.next {
		if e.matches(smp) {
			return e
		}
	}
	var before *seriesEntry
	for e := s.prev[h]; e != nil; before, e = e, e.next {
		if e.matches(smp) {
			// Moved, not copied: a copy would hold every active series twice for the generation after each
			// rotation (48 bytes and a map slot per series, about 10 % of the head at a million series).
			if before == nil {
				if e.next == nil {
					delete(s.prev, h)
				} else {
					s.prev[h] = e.next
				}
			} else {
				before.next = e.next
			}
			s.insert(h, e)
			return e
		}
	}
	return nil
}

// lookupSet returns the current generation's entry under hash h whose label set is lset: a sample spelled
// differently from the label set (labels not sorted) never matches, and must find its series here rather than
// add an entry per message.
func (s *shard) lookupSet(h uint64, lset labels.Labels) *seriesEntry {
	for e := s.cur[h]; e != nil; e = e.next {
		if labels.Equal(e.lset, lset) {
			return e
		}
	}
	return nil
}

func (s *shard) insert(h uint64, e *seriesEntry) {
	e.next = s.cur[h]
	s.cur[h] = e
}
