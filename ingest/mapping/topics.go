package mapping

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	"citywatch/store"
)

// The topic cache. A sensor publishes on the same topic again and again, and everything the topic decides is
// the same each time: the rule that maps it, the labels its levels give, the device it names. The cache keeps
// that per topic, so a message on a known topic skips the topic checks, the rule match and the label building
// (an allocation per message), and its samples share one labels slice and one store.SeriesHint across
// messages, with which the store finds their series without a lookup (store/tsdb).
//
// It is sized for the fleet: it holds at most Options.MaxTopics topics (ingest.max_devices in serve), in
// buckets of topicWays entries indexed by a hash of the topic, with at least twice as many entries as topics
// so that a fleet of MaxTopics topics nearly all find room (a topic whose bucket is full maps without the
// cache). It costs O(1) per message whatever the number of topics: one cache line of fingerprints and
// pointers, then the entry itself.
//
// A topic takes an entry on its first miss while its bucket has an empty one and the cache holds fewer than
// MaxTopics topics: a fleet that fits is cached from its first message on. Past that, a topic takes an entry
// only when it misses again while the doorkeeper still remembers its previous miss (it remembers the last four
// misses of each bucket), so that a fleet of more topics than the cache holds, whose topics evict each other
// before they come back, allocates next to no entries and maps as without a cache. It then replaces a topic of
// its bucket not used lately, or, when its bucket has an empty entry, one anywhere that a clock hand finds
// unused (sweep): a fleet that moved on (devices renamed or replaced) takes the cache over. An entry belongs
// to its Mapper, whose rules never change: a reload builds a new Mapper and so a new cache.
//
// Memory: the buckets take 64 bytes each, fewer than MaxTopics of them (at least minTopicBuckets), allocated at
// New (pages never touched cost no resident memory); each topic held takes about 260 bytes with its labels and
// device (TestTopicCacheMemoryBound bounds it at 400). So under about 330 bytes per topic of MaxTopics: at a
// million series (166,667 devices, ingest.max_devices) about 50 MiB, 0.05 KiB per series.

// topicWays is the number of entries of a bucket: their fingerprints and pointers fill one cache line.
const topicWays = 4

// DefaultMaxTopics is the default of Options.MaxTopics.
const DefaultMaxTopics = 16384

// Bounds of the number of buckets: the most keeps the bucket array at 64 MiB (4,194,304 entries, room for
// about two million topics), whatever ingest.max_devices says.
const (
	minTopicBuckets = 1 << 4
	maxTopicBuckets = 1 << 20
)

// topicEntry is what the cache knows about one topic. It is immutable once published, except for used and
// the hint's contents.
type topicEntry struct {
	topic  string
	r      *rule
	ms     span // the {metric} level
	ascii  bool
	labels []store.Label // the labels of a record without tags; len == cap, never modified
	device string
	devLbl []store.Label
	// hint is given to every sample with labels, for the store.
	hint store.SeriesHint
	// used says the entry was hit since its bucket last chose an entry to replace.
	used atomic.Bool
}

// topicBucket is one cache line: the entries of the topics whose hash selects it, a fingerprint of each (so a
// lookup reads only the entry it needs), and the doorkeeper's fingerprints of the latest topics that missed.
type topicBucket struct {
	fp      [topicWays]atomic.Uint32
	missed  [doorkeeperMisses]atomic.Uint32
	entries [topicWays]atomic.Pointer[topicEntry]
}

// doorkeeperMisses is how many of the latest topics that missed on a bucket its doorkeeper remembers: as many
// as the bucket holds, so that a bucket's share of a fleet that fits gets in even when the cache is full.
const doorkeeperMisses = topicWays

// topicCache is the bounded cache of topicEntry values; safe for concurrent use without locks.
type topicCache struct {
	seed    maphash.Seed
	mask    uint64
	buckets []topicBucket
	// max bounds held, the entries in the cache.
	max  int64
	held atomic.Int64
	// hand is where the next sweep starts.
	hand atomic.Uint64
	// entries counts entries made, for tests.
	entries atomic.Int64
}

// newTopicCache returns a cache for at most maxTopics topics, with about twice as many entries.
func newTopicCache(maxTopics int) *topicCache {
	n := topicBucketsFor(maxTopics)
	return &topicCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), buckets: make([]topicBucket, n), max: int64(maxTopics)}
}

// topicBucketsFor returns the number of buckets for maxTopics topics: a power of two with at least
// 2 × maxTopics entries, within [minTopicBuckets, maxTopicBuckets].
func topicBucketsFor(maxTopics int) int {
	want := (2*maxTopics + topicWays - 1) / topicWays
	n := 1 << bits.Len(uint(max(want, 1)-1))
	return min(max(n, minTopicBuckets), maxTopicBuckets)
}

// fingerprint is the part of a topic's hash that its bucket keeps; never 0, which marks an empty slot.
func fingerprint(h uint64) uint32 { return uint32(h>>32) | 1 }

// get returns the entry of topic, or nil, and the topic's hash for admit and put.
func (c *topicCache) get(topic string) (*topicEntry, uint64) {
	h := maphash.String(c.seed, topic)
	b := &c.buckets[h&c.mask]
	fp := fingerprint(h)
	for i := range b.fp {
		if b.fp[i].Load() != fp {
			continue
		}
		if e := b.entries[i].Load(); e != nil && e.topic == topic {
			if !e.used.Load() {
				e.used.Store(true)
			}
			return e, h
		}
	}
	return nil, h
}

// admit reports whether a topic that missed (hash h) may take an entry: its bucket has an empty one and the
// cache room for it, or it is one of the latest topics that missed on its bucket (doorkeeperMisses).
// Otherwise it becomes the latest of them.
func (c *topicCache) admit(h uint64) bool {
	if c.max == 0 {
		return false // a cache that holds nothing: the tests' uncached mappers
	}
	b := &c.buckets[h&c.mask]
	if c.held.Load() < c.max && b.free() >= 0 {
		return true
	}
	fp := fingerprint(h)
	m := &b.missed
	for i := range m {
		if m[i].Load() == fp {
			return true
		}
	}
	for i := len(m) - 1; i > 0; i-- {
		m[i].Store(m[i-1].Load())
	}
	m[0].Store(fp)
	return false
}

// free returns the index of an empty entry of b, or -1.
func (b *topicBucket) free() int {
	for i := range b.entries {
		if b.entries[i].Load() == nil {
			return i
		}
	}
	return -1
}

// put publishes e for the topic of hash h. It takes an empty entry of its bucket when there is one, making room
// in a full cache by sweeping out a topic not used lately elsewhere (sweep), else the place of one of its
// bucket's topics not used since the bucket last replaced one (the others get a second chance).
func (c *topicCache) put(h uint64, e *topicEntry) {
	b := &c.buckets[h&c.mask]
	fp := fingerprint(h)
	c.entries.Add(1)
	e.used.Store(true) // a new topic is not the next to go: the sweep or its bucket passes it once first
	if b.free() >= 0 && c.held.Load() >= c.max {
		c.sweep()
	}
	if c.held.Add(1) <= c.max {
		for i := range b.entries {
			if b.entries[i].CompareAndSwap(nil, e) {
				b.fp[i].Store(fp)
				return
			}
		}
	}
	c.held.Add(-1)
	c.replace(b, fp, e)
}

// sweepBuckets bounds the buckets one sweep looks at.
const sweepBuckets = 16

// sweep removes one topic not used since the sweep last passed it, going round the buckets like a clock hand
// (CLOCK): the topics it passes that were used lose their mark and stay. It looks at sweepBuckets buckets at
// most, so a full cache whose fleet has moved on makes room for new topics wherever their hash puts them,
// at a bounded cost per new entry.
func (c *topicCache) sweep() {
	for range sweepBuckets {
		b := &c.buckets[c.hand.Add(1)&c.mask]
		for i := range b.entries {
			old := b.entries[i].Load()
			switch {
			case old == nil:
			case old.used.Load():
				old.used.Store(false)
			case b.entries[i].CompareAndSwap(old, nil):
				b.fp[i].Store(0)
				c.held.Add(-1)
				return
			}
		}
	}
}

// replace puts e, of fingerprint fp, in place of one of b's topics not used since b last replaced one, else
// of the one fp picks; the others lose their used mark. A bucket without topics takes none.
func (c *topicCache) replace(b *topicBucket, fp uint32, e *topicEntry) {
	victim := -1
	var chosen *topicEntry // loaded once: a sweep elsewhere may empty the entry meanwhile
	for i := range b.entries {
		if old := b.entries[i].Load(); old != nil && (victim < 0 || !old.used.Load()) {
			victim, chosen = i, old
			if !old.used.Load() {
				break
			}
		}
	}
	if victim < 0 {
		return
	}
	if chosen.used.Load() {
		// Every topic was used: replace the one fp picks, so that no entry is the only one to churn.
		if i := int(fp>>1) % topicWays; b.entries[i].Load() != nil {
			victim = i
		}
	}
	for i := range b.entries {
		if old := b.entries[i].Load(); old != nil {
			old.used.Store(false)
		}
	}
	b.entries[victim].Store(e)
	b.fp[victim].Store(fp)
}
