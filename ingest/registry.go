package ingest

import (
	"hash/maphash"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"citywatch/ingest/mapping"
	"citywatch/internal/logx"
	"citywatch/store"
)

// Device is what the registry knows about one device.
type Device struct {
	// ID identifies the device, e.g. "d1/siteA/sensor42" (mapping.Result.Device).
	ID string `json:"id"`
	// Labels are the labels that identify the device, e.g. district, site and device.
	Labels map[string]string `json:"labels"`
	// FirstSeen and LastSeen are when the first and the latest message of the device were received.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Messages counts the device's messages, Errors those of them that were rejected (wholly or in part).
	Messages uint64 `json:"messages"`
	Errors   uint64 `json:"errors"`
	// LastValues holds the latest value per metric name (at most MaxMetricsPerDevice names), from messages
	// stored whole.
	LastValues map[string]float64 `json:"last_values"`
}

// RegistryPolicy is what the device registry does when it is full: it evicts the longest-silent device for
// each new one, counts it (citywatch_ingest_devices_evicted_total), logs it rate-limited and reports it in
// RegistryStatus.
const RegistryPolicy = "evict_longest_silent"

// RegistryStatus is what the device registry reports about itself (/api/devices, for callers who see every
// site).
type RegistryStatus struct {
	// Devices is the number of devices in the registry, MaxDevices its bound (ingest.max_devices).
	Devices    int `json:"devices"`
	MaxDevices int `json:"max_devices"`
	// Policy is RegistryPolicy.
	Policy string `json:"policy"`
	// Evicted counts the devices evicted since the start; LastEviction is when the latest was (nil: never).
	Evicted      uint64     `json:"evicted"`
	LastEviction *time.Time `json:"last_eviction,omitempty"`
	// Persisted says the registry is saved to the metadata database (DeviceStore); LastSave is the latest
	// successful save and SaveError the error of the latest failed one ("" when the latest succeeded).
	Persisted bool       `json:"persisted"`
	LastSave  *time.Time `json:"last_save,omitempty"`
	SaveError string     `json:"save_error,omitempty"`
}

const registryShards = 64

// registryFullLogInterval is the least time between two log lines about evictions from the full registry.
const registryFullLogInterval = time.Minute

// registry is the device registry: a sharded map so that concurrent Handle calls for different devices rarely
// contend. Each shard keeps its devices in a list ordered by when a message of theirs was last handled (front:
// most recent), so that both a message and an eviction cost O(1): a message moves its device to the front,
// and an eviction compares the tails of the shards (registryShards of them, whatever the number of devices)
// and removes the longest-silent one.
//
// Each shard's devices fall into bucketsPerShard buckets, the unit the persistence (DeviceStore) saves: a
// message, an eviction or a restore marks its device's bucket in the shard's dirty mask, and a save rewrites
// only the buckets marked (registry_db.go).
type registry struct {
	max        int
	maxMetrics int
	maxSeries  int
	evicted    prometheus.Counter
	seed       maphash.Seed
	log        *slog.Logger
	// now is the clock of evictions and their rate-limited log (the pipeline's clock).
	now func() time.Time

	count   atomic.Int64 // devices in the registry, including reserved slots being inserted
	evictMu sync.Mutex
	shards  [registryShards]registryShard

	// evictWork counts the entries an eviction looked at or removed: the unit test bounds it per eviction.
	evictWork    atomic.Int64
	evictedN     atomic.Uint64
	lastEviction atomic.Int64 // unix nanoseconds, 0 = never
	lastFullLog  atomic.Int64 // unix nanoseconds of the last "registry full" log line, 0 = never
	unlogged     atomic.Uint64
	// persist is set by a DeviceStore: nil when the registry is not saved.
	persist atomic.Pointer[persistState]
}

type registryShard struct {
	mu sync.Mutex
	m  map[string]*deviceEntry
	// head is the most recently seen device, tail the longest-silent one.
	head, tail *deviceEntry
	// seriesChecked counts the series admitSeries looked up one by one (not admitted on a message's signature).
	seriesChecked uint64
	// names interns the metric names the shard's devices keep in their last values: every device of a fleet
	// has the same few, and each message brings its own copies.
	names map[string]string
	// dirty holds the buckets of the shard that changed since the last save (a device of them was seen,
	// restored or evicted).
	dirty bucketSet
	_     [48]byte // keep shards on separate cache lines
}

// maxInternedNames bounds each shard's interned metric names; beyond it a device keeps its own copy.
const maxInternedNames = 512

// intern returns the shard's copy of name, adding it while there is room. The shard is locked.
func (sh *registryShard) intern(name string) string {
	if n, ok := sh.names[name]; ok {
		return n
	}
	if len(sh.names) < maxInternedNames {
		if sh.names == nil {
			sh.names = make(map[string]string)
		}
		sh.names[name] = name
	}
	return name
}

type deviceEntry struct {
	id         string
	prev, next *deviceEntry  // the shard's list
	labels     []store.Label // immutable once set: replaced, never modified, so samples can share it
	// exportHint is the store's series hint of the device's device_last_seen_seconds samples, made for labels
	// by the first export that needs it and dropped when labels are replaced (the store.SeriesHint contract:
	// one labels slice per hint), so that an export finds the device's series without hashing its labels and
	// looking up their group: at a million series an export appends 166,667 samples.
	exportHint  *store.SeriesHint
	first, last int64 // unix nanoseconds
	messages    uint64
	errors      uint64
	// bucket is the device's bucket within its shard (deviceLocation), the unit the DeviceStore saves.
	bucket uint8
	// evicted says the entry left the registry (a deviceRef to it is stale).
	evicted bool
	// values are the last values, in the order metric names were first seen. A slice, not a map: messages of
	// a device usually carry the same fields in the same order, so the position of a sample in the message
	// finds its slot without hashing.
	values []lastValue
	// series are the device's recent series, for the per-device series limit.
	series seriesSet
}

type lastValue struct {
	name string
	v    float64
}

func newRegistry(maxDevices, maxMetrics, maxSeries int, evicted prometheus.Counter, log *slog.Logger) *registry {
	log = logx.Or(log)
	r := &registry{max: maxDevices, maxMetrics: maxMetrics, maxSeries: maxSeries, evicted: evicted,
		seed: maphash.MakeSeed(), log: log, now: time.Now}
	for i := range r.shards {
		r.shards[i].m = make(map[string]*deviceEntry)
	}
	return r
}

func (r *registry) len() int { return int(r.count.Load()) }

func (r *registry) shard(id string) *registryShard {
	sh, _ := r.locate(id)
	return sh
}

// locate returns the shard of the device id and its bucket within the shard.
func (r *registry) locate(id string) (*registryShard, uint8) {
	i, b := deviceLocation(id)
	return &r.shards[i], b
}

// deviceLocation returns the shard of the device id and its bucket within the shard. The hash has no seed: a
// device's bucket is where a save put it, so it must stay the same across restarts. A fleet whose ids all
// hash to one shard only shares that shard's lock; every lookup within it is a map's.
func deviceLocation(id string) (shard int, bucket uint8) {
	h := xxhash.Sum64String(id)
	return int(h % registryShards), uint8((h / registryShards) % bucketsPerShard)
}

// pushFront puts e at the front of the shard's list (e is not in it).
func (sh *registryShard) pushFront(e *deviceEntry) {
	e.prev, e.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = e
	} else {
		sh.tail = e
	}
	sh.head = e
}

// pushBack puts e at the back of the shard's list (e is not in it).
func (sh *registryShard) pushBack(e *deviceEntry) {
	e.prev, e.next = sh.tail, nil
	if sh.tail != nil {
		sh.tail.next = e
	} else {
		sh.head = e
	}
	sh.tail = e
}

// unlink takes e out of the shard's list.
func (sh *registryShard) unlink(e *deviceEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// seen records a message of res.Device received at t; failed says it was (partly) rejected.
func (r *registry) seen(res *mapping.Result, t time.Time, failed bool) {
	sh, e := r.lockEntry(res, t)
	r.update(sh, e, res, t, failed)
	sh.mu.Unlock()
}

// lockEntry returns the entry of res.Device, created if needed, with its shard locked. A new entry goes to
// the back of its shard's list: until a message of it is handled (update) it is not seen, and first in line
// for eviction.
func (r *registry) lockEntry(res *mapping.Result, t time.Time) (*registryShard, *deviceEntry) {
	sh, bucket := r.locate(res.Device)
	sh.mu.Lock()
	e := sh.m[res.Device]
	if e == nil {
		sh.mu.Unlock()
		r.reserve()
		sh.mu.Lock()
		if e = sh.m[res.Device]; e != nil {
			r.count.Add(-1) // inserted concurrently: give the reserved slot back
		} else {
			ns := t.UnixNano()
			e = &deviceEntry{id: res.Device, first: ns, bucket: bucket,
				values: make([]lastValue, 0, min(len(res.Samples), r.maxMetrics))}
			sh.m[res.Device] = e
			sh.pushBack(e)
		}
	}
	return sh, e
}

// admitSeries applies the per-device series limit to samples of res.Device received at t. It returns the
// samples that may be stored (samples itself when all may), how many were refused and the first refused one,
// and the device's entry, for seenEntry once the message is stored (nil when samples is empty).
//
// A message of the very series the device's previous admitted message had (nearly every message of a sensor:
// the same fields with the same labels) is admitted on its signature alone, without a set lookup per series.
func (r *registry) admitSeries(res *mapping.Result, samples []store.Sample, t time.Time) (keep []store.Sample, refused int, first store.Sample, dev deviceRef) {
	if len(samples) == 0 {
		return samples, 0, first, dev
	}
	var hs [16]uint64
	hashes := hs[:0]
	if len(samples) > len(hs) {
		hashes = make([]uint64, 0, len(samples))
	}
	hashes, sig := r.seriesHashes(hashes, samples)
	sh, e := r.lockEntry(res, t)
	defer sh.mu.Unlock()
	dev = deviceRef{sh, e}
	e.series.maybeRotate(t)
	if e.series.sig == sig {
		return samples, 0, first, dev
	}
	sh.seriesChecked += uint64(len(samples))
	keep = samples
	for i := range samples {
		if e.series.admit(hashes[i], i, r.maxSeries) {
			if refused > 0 {
				keep = append(keep, samples[i])
			}
			continue
		}
		if refused == 0 {
			keep, first = slices.Clone(samples[:i]), samples[i]
		}
		refused++
	}
	if refused == 0 {
		e.series.sig = sig // every series of this message is in the current generation now
	}
	return keep, refused, first, dev
}

// deviceRef is a device's entry and its shard, found by admitSeries, so that the same message's seenEntry
// does not look the device up again (on the commit goroutine, which all messages share).
type deviceRef struct {
	sh *registryShard
	e  *deviceEntry
}

// seenEntry is seen for the device of dev, found earlier for the same message; when dev is empty or its entry
// was evicted since, the device is looked up (and created) as seen does.
func (r *registry) seenEntry(dev deviceRef, res *mapping.Result, t time.Time, failed bool) {
	if dev.e == nil || dev.e.id != res.Device {
		r.seen(res, t, failed)
		return
	}
	dev.sh.mu.Lock()
	if dev.e.evicted {
		dev.sh.mu.Unlock()
		r.seen(res, t, failed)
		return
	}
	r.update(dev.sh, dev.e, res, t, failed)
	dev.sh.mu.Unlock()
}

// seriesHashes appends to dst the hash of each sample's series within its device, and returns them with the
// message's signature (a hash of those hashes in order, never 0). The labels are hashed once per distinct
// labels slice: the samples of one message usually share theirs.
func (r *registry) seriesHashes(dst []uint64, samples []store.Sample) ([]uint64, uint64) {
	var lh uint64
	sig := uint64(len(samples))
	for i := range samples {
		s := &samples[i]
		if i == 0 || !sameLabelSlice(s.Labels, samples[i-1].Labels) {
			lh = r.labelsHash(s.Labels)
		}
		h := lh ^ maphash.String(r.seed, s.Name)*0x9e3779b97f4a7c15
		dst = append(dst, h)
		sig = (sig^h)*0x100000001b3 + 0x9e3779b97f4a7c15
	}
	if sig == 0 {
		sig = 1 // 0 means no signature
	}
	return dst, sig
}

// labelsHash hashes a sample's labels.
func (r *registry) labelsHash(ls []store.Label) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	for _, l := range ls {
		h.WriteString(l.Name)
		h.WriteByte(0xfe)
		h.WriteString(l.Value)
		h.WriteByte(0xff)
	}
	return h.Sum64()
}

// sameLabelSlice reports whether a and b are the same slice (not merely equal labels).
func sameLabelSlice(a, b []store.Label) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// seriesGeneration is how often a device's series set turns over: a series not written for one to two
// generations no longer counts against the device's limit (the TSDB drops idle series from its head after a
// few hours too), so a device whose fields were renamed recovers without a restart.
const seriesGeneration = time.Hour

// seriesSet is the bounded set of one device's recent series, in two generations. It holds at most the
// device's series limit of hashes, so the whole registry holds at most MaxDevices × MaxSeriesPerDevice.
//
// One slice, not two maps: a device has a handful of series, and at a million series (166,667 devices) the
// maps cost about 130 bytes per device against 48 for six hashes here. hs[:prevN] are the previous generation,
// hs[prevN:] the current one; a lookup scans from a hint (a message's fields usually come in the same order,
// so the sample's position finds its series at once).
type seriesSet struct {
	hs      []uint64
	prevN   int
	rotated int64 // unix nanoseconds, 0 = never
	// sig is the signature of the last message whose series were all admitted into the current generation
	// (seriesHashes), 0 when none since the last rotation: a message with the same signature has nothing to add.
	sig uint64
}

func (s *seriesSet) maybeRotate(now time.Time) {
	ns := now.UnixNano()
	if s.rotated == 0 {
		s.rotated = ns
		return
	}
	idle := time.Duration(ns - s.rotated)
	if idle < seriesGeneration {
		return
	}
	s.rotated, s.sig = ns, 0
	if idle >= 2*seriesGeneration {
		s.hs, s.prevN = s.hs[:0], 0 // the current generation is idle too
		return
	}
	// The current generation becomes the previous one; the previous one is forgotten.
	n := copy(s.hs, s.hs[s.prevN:])
	s.hs, s.prevN = s.hs[:n], n
}

// len is the number of series the set holds.
func (s *seriesSet) len() int { return len(s.hs) }

// admit reports whether the series h may be written: it is known, or the set has room for it. hint is where h
// probably is (the sample's position in its message).
func (s *seriesSet) admit(h uint64, hint, limit int) bool {
	i := s.find(h, hint)
	switch {
	case i >= s.prevN:
		return true
	case i >= 0:
		// Seen in the previous generation: move it to the current one by moving the boundary past it.
		last := s.prevN - 1
		s.hs[i], s.hs[last] = s.hs[last], s.hs[i]
		s.prevN = last
		return true
	case len(s.hs) >= limit:
		return false
	}
	s.hs = append(s.hs, h)
	return true
}

// find returns the index of h in hs, or -1.
func (s *seriesSet) find(h uint64, hint int) int {
	if hint >= 0 && hint < len(s.hs) && s.hs[hint] == h {
		return hint
	}
	for i, x := range s.hs {
		if x == h {
			return i
		}
	}
	return -1
}

// update records a message of e's device; sh is e's shard, locked. The entry moves to the front of the list
// and its bucket is marked for the next save.
func (r *registry) update(sh *registryShard, e *deviceEntry, res *mapping.Result, t time.Time, failed bool) {
	ns := t.UnixNano()
	if ns > e.last || e.messages == 0 {
		e.last = ns
	}
	if ns < e.first {
		e.first = ns
	}
	e.messages++
	if failed {
		e.errors++
	}
	if !labelsEqual(e.labels, res.DeviceLabels, res.Device) {
		e.labels, e.exportHint = deviceLabels(res.DeviceLabels, res.Device), nil
	}
	for i := range res.Samples {
		e.setValue(sh, i, res.Samples[i].Name, res.Samples[i].V, r.maxMetrics)
	}
	sh.dirty.add(e.bucket)
	if sh.head != e {
		sh.unlink(e)
		sh.pushFront(e)
	}
}

// setValue records v as the last value of name; hint is where name probably is. sh is e's shard, locked.
func (e *deviceEntry) setValue(sh *registryShard, hint int, name string, v float64, maxMetrics int) {
	if hint < len(e.values) && e.values[hint].name == name {
		e.values[hint].v = v
		return
	}
	for i := range e.values {
		if e.values[i].name == name {
			e.values[i].v = v
			return
		}
	}
	if len(e.values) < maxMetrics {
		e.values = append(e.values, lastValue{sh.intern(name), v})
	}
}

// deviceLabels copies ls without empty values, or returns {device=id} when ls is empty.
func deviceLabels(ls []store.Label, id string) []store.Label {
	out := make([]store.Label, 0, max(len(ls), 1))
	for _, l := range ls {
		if l.Value != "" && l.Name != "" && l.Name != "__name__" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		out = append(out, store.Label{Name: "device", Value: id})
	}
	return store.SortLabels(out)
}

// labelsEqual reports whether have (as built by deviceLabels) matches the labels a message brings; it does not
// allocate in the common case of unchanged labels.
func labelsEqual(have, ls []store.Label, id string) bool {
	if have == nil {
		return false
	}
	if len(ls) == 0 {
		return len(have) == 1 && have[0].Name == "device" && have[0].Value == id
	}
	if len(have) != len(ls) {
		return false
	}
	for i := range ls {
		if have[i] != ls[i] {
			return false
		}
	}
	return true
}

// reserve takes a slot for a new device, evicting the longest-silent device when the registry is full.
func (r *registry) reserve() {
	for {
		c := r.count.Load()
		if c < int64(r.max) {
			if r.count.CompareAndSwap(c, c+1) {
				return
			}
			continue
		}
		if !r.evict() {
			runtime.Gosched() // every slot is reserved by an insertion in progress: let it finish
		}
	}
}

// evict removes the longest-silent device when the registry is full, and reports whether it made room (or
// found room made). It looks at the tail of every shard and removes the oldest of them: registryShards steps
// whatever the number of devices.
func (r *registry) evict() bool {
	r.evictMu.Lock()
	defer r.evictMu.Unlock()
	if r.count.Load() < int64(r.max) {
		return true // another goroutine made room
	}
	oldest, at := -1, int64(0)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		if e := sh.tail; e != nil && (oldest < 0 || e.last < at) {
			oldest, at = i, e.last
		}
		sh.mu.Unlock()
	}
	r.evictWork.Add(registryShards)
	if oldest < 0 {
		return false
	}
	sh := &r.shards[oldest]
	sh.mu.Lock()
	e := sh.tail // the tail may have changed since: it is still that shard's longest-silent device
	if e != nil {
		sh.unlink(e)
		delete(sh.m, e.id)
		e.evicted = true
		sh.dirty.add(e.bucket) // the next save drops it from its bucket
	}
	sh.mu.Unlock()
	if e == nil {
		return false
	}
	r.evictWork.Add(1)
	r.count.Add(-1)
	r.evicted.Inc()
	r.evictedN.Add(1)
	now := r.now()
	r.lastEviction.Store(now.UnixNano())
	r.logFull(now, e)
	return true
}

// logFull logs evictions from the full registry, at most once per registryFullLogInterval with the number of
// evictions since the previous line.
func (r *registry) logFull(now time.Time, e *deviceEntry) {
	n := r.unlogged.Add(1)
	last := r.lastFullLog.Load()
	if last != 0 && now.UnixNano()-last < registryFullLogInterval.Nanoseconds() {
		return
	}
	if !r.lastFullLog.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	r.unlogged.Add(^(n - 1)) // subtract the n logged now
	r.log.Warn("ingest: device registry full: evicting the longest-silent devices to make room for new ones "+
		"(raise ingest.max_devices if they are real)", "max_devices", r.max, "evicted", n,
		"evicted_total", r.evictedN.Load(), "latest_evicted", clip(e.id, maxTopicBytes),
		"latest_evicted_last_seen", time.Unix(0, e.last).UTC())
}

// status reports the registry's size, bound and evictions.
func (r *registry) status() RegistryStatus {
	st := RegistryStatus{Devices: r.len(), MaxDevices: r.max, Policy: RegistryPolicy, Evicted: r.evictedN.Load()}
	if ns := r.lastEviction.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		st.LastEviction = &t
	}
	if ps := r.persist.Load(); ps != nil {
		st.Persisted, st.SaveError = true, ps.err
		if !ps.lastSave.IsZero() {
			t := ps.lastSave.UTC()
			st.LastSave = &t
		}
	}
	return st
}

// device returns a copy of e as a Device.
func (e *deviceEntry) device() Device {
	d := Device{ID: e.id, FirstSeen: time.Unix(0, e.first).UTC(), LastSeen: time.Unix(0, e.last).UTC(),
		Messages: e.messages, Errors: e.errors,
		Labels: make(map[string]string, len(e.labels)), LastValues: make(map[string]float64, len(e.values))}
	for _, l := range e.labels {
		d.Labels[l.Name] = l.Value
	}
	for _, lv := range e.values {
		d.LastValues[lv.name] = lv.v
	}
	return d
}

// list returns copies of every device, sorted by ID.
func (r *registry) list() []Device {
	out := make([]Device, 0, r.len())
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			if e.messages == 0 {
				continue // created by admitSeries for a message whose store failed: not seen yet
			}
			out = append(out, e.device())
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// maxDeviceExportRate bounds the device_last_seen_seconds samples a large registry exports per second, and
// maxDeviceExportEvery the time between two exports. At a million series (166,667 devices) an export every 5 s
// wrote 33,000 samples a second, more than the sensors' own samples: 31 % of serve's CPU, and most of the
// write-ahead log that a restart replays. The value then moves in steps of up to 35 s instead of 5 s, well within
// the 5 min a query looks back for a sample.
const (
	maxDeviceExportRate  = 5000
	maxDeviceExportEvery = time.Minute
)

// exportTicks returns after how many ticks of every the registry is exported: 1 up to maxDeviceExportRate ×
// every devices, more for a larger registry, at most maxDeviceExportEvery / every.
func (r *registry) exportTicks(every time.Duration) int {
	return deviceExportTicks(r.len(), every)
}

func deviceExportTicks(devices int, every time.Duration) int {
	perTick := maxDeviceExportRate * every.Seconds()
	ticks := int(math.Ceil(float64(devices) / perTick))
	return min(max(ticks, 1), max(int(maxDeviceExportEvery/every), 1))
}

// samples returns device_last_seen_seconds for every device at now. The label slices are shared with the
// registry, which never modifies them in place.
func (r *registry) samples(now time.Time) []store.Sample {
	out, _ := r.appendSamples(make([]store.Sample, 0, r.len()), now, 0, math.MaxInt)
	return out
}

// appendSamples appends to dst device_last_seen_seconds at now for the devices of the shards from shard on,
// shard by shard, until dst holds at least limit samples. It returns dst and the next shard (registryShards
// when all are done), so that an export goes through the registry in batches of one reused buffer instead of
// allocating a sample for every device at once (166,667 at a million series).
func (r *registry) appendSamples(dst []store.Sample, now time.Time, shard, limit int) ([]store.Sample, int) {
	ts := now.UnixMilli()
	for ; shard < registryShards && len(dst) < limit; shard++ {
		sh := &r.shards[shard]
		sh.mu.Lock()
		for e := sh.head; e != nil; e = e.next {
			if e.messages == 0 {
				continue
			}
			if e.exportHint == nil {
				e.exportHint = new(store.SeriesHint)
			}
			dst = append(dst, store.Sample{Name: deviceMetric, Labels: e.labels, T: ts,
				V: max(now.Sub(time.Unix(0, e.last)).Seconds(), 0), Hint: e.exportHint})
		}
		sh.mu.Unlock()
	}
	return dst, shard
}
