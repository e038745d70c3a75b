package ingest

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/ingest/mapping"
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

const registryShards = 64

// registry is the device registry: a sharded map so that concurrent Handle calls for different devices rarely
// contend. It is bounded: when full, the longest-silent 1% of devices (at least one) are evicted.
type registry struct {
	max        int
	maxMetrics int
	maxSeries  int
	evicted    prometheus.Counter
	seed       maphash.Seed

	count   atomic.Int64 // devices in the registry, including reserved slots being inserted
	evictMu sync.Mutex
	shards  [registryShards]registryShard
}

type registryShard struct {
	mu sync.Mutex
	m  map[string]*deviceEntry
	_  [40]byte // keep shards on separate cache lines
}

type deviceEntry struct {
	labels      []store.Label // immutable once set: replaced, never modified, so samples can share it
	first, last time.Time
	messages    uint64
	errors      uint64
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

func newRegistry(maxDevices, maxMetrics, maxSeries int, evicted prometheus.Counter) *registry {
	r := &registry{max: maxDevices, maxMetrics: maxMetrics, maxSeries: maxSeries, evicted: evicted,
		seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = make(map[string]*deviceEntry)
	}
	return r
}

func (r *registry) len() int { return int(r.count.Load()) }

func (r *registry) shard(id string) *registryShard {
	return &r.shards[maphash.String(r.seed, id)%registryShards]
}

// seen records a message of res.Device received at t; failed says it was (partly) rejected.
func (r *registry) seen(res *mapping.Result, t time.Time, failed bool) {
	sh, e := r.lockEntry(res, t)
	r.update(e, res, t, failed)
	sh.mu.Unlock()
}

// lockEntry returns the entry of res.Device, created if needed, with its shard locked.
func (r *registry) lockEntry(res *mapping.Result, t time.Time) (*registryShard, *deviceEntry) {
	sh := r.shard(res.Device)
	sh.mu.Lock()
	e := sh.m[res.Device]
	if e == nil {
		sh.mu.Unlock()
		r.reserve()
		sh.mu.Lock()
		if e = sh.m[res.Device]; e != nil {
			r.count.Add(-1) // inserted concurrently: give the reserved slot back
		} else {
			e = &deviceEntry{first: t, values: make([]lastValue, 0, min(len(res.Samples), r.maxMetrics))}
			sh.m[res.Device] = e
		}
	}
	return sh, e
}

// admitSeries applies the per-device series limit to samples of res.Device received at t. It returns the
// samples that may be stored (samples itself when all may), how many were refused and the first refused one.
func (r *registry) admitSeries(res *mapping.Result, samples []store.Sample, t time.Time) (keep []store.Sample, refused int, first store.Sample) {
	if len(samples) == 0 {
		return samples, 0, first
	}
	sh, e := r.lockEntry(res, t)
	defer sh.mu.Unlock()
	e.series.maybeRotate(t)
	keep = samples
	for i := range samples {
		if e.series.admit(r.seriesHash(&samples[i]), r.maxSeries) {
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
	return keep, refused, first
}

// seriesHash identifies a sample's series within its device.
func (r *registry) seriesHash(s *store.Sample) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(s.Name)
	for _, l := range s.Labels {
		h.WriteByte(0xff)
		h.WriteString(l.Name)
		h.WriteByte(0xfe)
		h.WriteString(l.Value)
	}
	return h.Sum64()
}

// seriesGeneration is how often a device's series set turns over: a series not written for one to two
// generations no longer counts against the device's limit (the TSDB drops idle series from its head after a
// few hours too), so a device whose fields were renamed recovers without a restart.
const seriesGeneration = time.Hour

// seriesSet is the bounded set of one device's recent series, in two generations. It holds at most the
// device's series limit of hashes, so the whole registry holds at most MaxDevices × MaxSeriesPerDevice.
type seriesSet struct {
	cur, prev map[uint64]struct{}
	rotated   time.Time
}

func (s *seriesSet) maybeRotate(now time.Time) {
	if s.rotated.IsZero() {
		s.rotated = now
		return
	}
	idle := now.Sub(s.rotated)
	if idle < seriesGeneration {
		return
	}
	s.prev, s.cur, s.rotated = s.cur, nil, now
	if idle >= 2*seriesGeneration {
		s.prev = nil // the current generation is idle too
	}
}

// admit reports whether the series h may be written: it is known, or the set has room for it.
func (s *seriesSet) admit(h uint64, limit int) bool {
	if _, ok := s.cur[h]; ok {
		return true
	}
	if _, ok := s.prev[h]; ok {
		delete(s.prev, h)
	} else if len(s.cur)+len(s.prev) >= limit {
		return false
	}
	if s.cur == nil {
		s.cur = make(map[uint64]struct{}, 4)
	}
	s.cur[h] = struct{}{}
	return true
}

func (r *registry) update(e *deviceEntry, res *mapping.Result, t time.Time, failed bool) {
	if t.After(e.last) {
		e.last = t
	}
	if t.Before(e.first) {
		e.first = t
	}
	e.messages++
	if failed {
		e.errors++
	}
	if !labelsEqual(e.labels, res.DeviceLabels, res.Device) {
		e.labels = deviceLabels(res.DeviceLabels, res.Device)
	}
	for i := range res.Samples {
		e.setValue(i, res.Samples[i].Name, res.Samples[i].V, r.maxMetrics)
	}
}

// setValue records v as the last value of name; hint is where name probably is.
func (e *deviceEntry) setValue(hint int, name string, v float64, maxMetrics int) {
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
		e.values = append(e.values, lastValue{name, v})
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

// reserve takes a slot for a new device, evicting the longest-silent devices when the registry is full.
func (r *registry) reserve() {
	for {
		c := r.count.Load()
		if c < int64(r.max) {
			if r.count.CompareAndSwap(c, c+1) {
				return
			}
			continue
		}
		r.evict()
	}
}

// evict removes the longest-silent 1% of devices (at least one). It scans every shard, so it runs once per
// many insertions when the registry is full, not per message.
func (r *registry) evict() {
	r.evictMu.Lock()
	defer r.evictMu.Unlock()
	if r.count.Load() < int64(r.max) {
		return // another goroutine made room
	}
	type cand struct {
		last  time.Time
		id    string
		shard int
	}
	var all []cand
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			all = append(all, cand{e.last, id, i})
		}
		sh.mu.Unlock()
	}
	n := max(1, r.max/100)
	slices.SortFunc(all, func(a, b cand) int { return a.last.Compare(b.last) })
	removed := 0
	for _, c := range all[:min(n, len(all))] {
		sh := &r.shards[c.shard]
		sh.mu.Lock()
		if _, ok := sh.m[c.id]; ok {
			delete(sh.m, c.id)
			removed++
		}
		sh.mu.Unlock()
	}
	r.count.Add(-int64(removed))
	r.evicted.Add(float64(removed))
}

// list returns copies of every device, sorted by ID.
func (r *registry) list() []Device {
	out := make([]Device, 0, r.len())
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			if e.messages == 0 {
				continue // created by admitSeries for a message whose store failed: not seen yet
			}
			d := Device{ID: id, FirstSeen: e.first, LastSeen: e.last, Messages: e.messages, Errors: e.errors,
				Labels: make(map[string]string, len(e.labels)), LastValues: make(map[string]float64, len(e.values))}
			for _, l := range e.labels {
				d.Labels[l.Name] = l.Value
			}
			for _, lv := range e.values {
				d.LastValues[lv.name] = lv.v
			}
			out = append(out, d)
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// samples returns device_last_seen_seconds for every device at now. The label slices are shared with the
// registry, which never modifies them in place.
func (r *registry) samples(now time.Time) []store.Sample {
	out := make([]store.Sample, 0, r.len())
	ts := now.UnixMilli()
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			if e.messages == 0 {
				continue
			}
			out = append(out, store.Sample{Name: deviceMetric, Labels: e.labels, T: ts,
				V: max(now.Sub(e.last).Seconds(), 0)})
		}
		sh.mu.Unlock()
	}
	return out
}
