package mapping

import (
	"hash/maphash"
	"sync/atomic"

	"citywatch/store"
)

// The topic cache. A sensor publishes on the same topic again and again, and everything the topic decides is
// the same each time: the rule that maps it, the labels its levels give, the device it names. The cache keeps
// that per topic, so a message on a known topic skips the topic checks, the rule match and the label building
// (an allocation per message), and its samples share one labels slice and one store.SeriesHint across
// messages, with which the store finds their series without a lookup (store/tsdb).
//
// It is bounded and costs O(1) per message whatever the number of topics: topicBuckets buckets of two
// entries, indexed by a hash of the topic. A topic takes an entry when it misses again while the doorkeeper
// still remembers its previous miss (it remembers the last two misses of each bucket), so that a fleet of
// more topics than the cache holds, whose topics evict each other before they come back, allocates next to
// no entries and maps as without a cache. An entry belongs to its Mapper, whose rules never change: a reload builds a new Mapper and
// so a new cache.

// topicBuckets is the number of buckets of the topic cache; it holds at most twice as many topics (about 300
// bytes each with their labels, so at most about 10 MB).
const topicBuckets = 1 << 14

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

// topicCache is the bounded cache of topicEntry values; safe for concurrent use without locks.
type topicCache struct {
	seed    maphash.Seed
	buckets [topicBuckets][2]atomic.Pointer[topicEntry]
	// missed are the fingerprints of the last two topics that missed in each bucket (the doorkeeper).
	missed [topicBuckets][2]atomic.Uint32
	// entries counts entries made, for tests.
	entries atomic.Int64
}

func newTopicCache() *topicCache { return &topicCache{seed: maphash.MakeSeed()} }

// get returns the entry of topic, or nil, and the topic's hash for put.
func (c *topicCache) get(topic string) (*topicEntry, uint64) {
	h := maphash.String(c.seed, topic)
	b := &c.buckets[h%topicBuckets]
	for i := range b {
		if e := b[i].Load(); e != nil && e.topic == topic {
			if !e.used.Load() {
				e.used.Store(true)
			}
			return e, h
		}
	}
	return nil, h
}

// admit reports whether a topic that missed (hash h) may take an entry: it is one of the last two topics that
// missed on its bucket. Otherwise it becomes the latest of them.
func (c *topicCache) admit(h uint64) bool {
	fp := uint32(h>>32) | 1
	m := &c.missed[h%topicBuckets]
	if m[0].Load() == fp || m[1].Load() == fp {
		return true
	}
	m[1].Store(m[0].Load())
	m[0].Store(fp)
	return false
}

// put publishes e for the topic of hash h, replacing an empty entry of its bucket, else one not used since
// the bucket last replaced one (the other entry gets a second chance).
func (c *topicCache) put(h uint64, e *topicEntry) {
	b := &c.buckets[h%topicBuckets]
	victim := 0
	e0, e1 := b[0].Load(), b[1].Load()
	switch {
	case e0 == nil:
	case e1 == nil:
		victim = 1
	case e0.used.Load() && !e1.used.Load():
		victim = 1
	}
	if e0 != nil {
		e0.used.Store(false)
	}
	if e1 != nil {
		e1.used.Store(false)
	}
	b[victim].Store(e)
	c.entries.Add(1)
}
