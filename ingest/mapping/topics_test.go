package mapping

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"citywatch/store"
)

// TestTopicCacheSharesLabels: from its first message on, a topic's samples share one labels slice and one
// series hint (what the store finds their series by), and the mapping allocates nothing for them.
func TestTopicCacheSharesLabels(t *testing.T) {
	m, err := New(nil, Options{DefaultMapping: true})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"temperature":21.5,"humidity":40}`)
	var first Result
	for i := range 3 {
		res, err := m.Map("city/d1/siteA/sensor42", payload, testNow)
		if err != nil || len(res.Samples) != 2 {
			t.Fatalf("message %d: %d samples, %v", i, len(res.Samples), err)
		}
		s0, s1 := res.Samples[0], res.Samples[1]
		if &s0.Labels[0] != &s1.Labels[0] || s0.Hint != s1.Hint {
			t.Fatalf("message %d: the samples of one message do not share labels and hint", i)
		}
		if i == 0 {
			if s0.Hint == nil {
				t.Fatalf("a topic's first message has no hint: a cache with room takes a topic on its first miss")
			}
			first = res
			continue
		}
		if s0.Hint != first.Samples[0].Hint || &s0.Labels[0] != &first.Samples[0].Labels[0] {
			t.Fatalf("message %d does not share the first's labels and hint", i)
		}
		if res.Device != "d1/siteA/sensor42" || &res.DeviceLabels[0] != &first.DeviceLabels[0] {
			t.Fatalf("device %q, labels %v: not the cached ones", res.Device, res.DeviceLabels)
		}
	}
	buf := make([]Result, 0, 1)
	allocs := testing.AllocsPerRun(100, func() {
		res, err := m.MapAppend(first.Samples[:0], "city/d1/siteA/sensor42", payload, testNow)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf[:0], res)
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per message on a known topic, want 0", allocs)
	}
}

// fleetTopic is the topic of device i of a fleet.
func fleetTopic(i int) string { return fmt.Sprintf("city/d%d/site%d/sensor%d", i%4, i%20, i) }

// mapFleet maps one message on each of the topics from, from+1, … of a fleet (n of them) and returns their
// series hints (the topic entries they came from; nil for a message mapped without one).
func mapFleet(t *testing.T, m *Mapper, from, n int) []*store.SeriesHint {
	t.Helper()
	payload := []byte(`{"temperature":21.5}`)
	hints := make([]*store.SeriesHint, n)
	for i := range n {
		res, err := m.Map(fleetTopic(from+i), payload, testNow)
		if err != nil || len(res.Samples) != 1 {
			t.Fatalf("topic %d: %d samples, %v", i, len(res.Samples), err)
		}
		hints[i] = res.Samples[0].Hint
	}
	return hints
}

// heldTopics counts the entries in the cache.
func heldTopics(c *topicCache) int {
	held := 0
	for i := range c.buckets {
		for j := range c.buckets[i].entries {
			if c.buckets[i].entries[j].Load() != nil {
				held++
			}
		}
	}
	return held
}

// TestTopicCacheHoldsTheFleet: a fleet of more topics than the fixed cache of before held (16,384 buckets of
// two: 32,768) but within Options.MaxTopics is cached from its first message on: the second message on a
// topic finds the entry the first made (its samples carry that entry's series hint), for nearly every topic,
// and the cache made about one entry per topic. At a million series (166,666 topics) the fixed cache held a
// fifth of them, and a device's second message (all the bench's steady phase sends) took the full path.
func TestTopicCacheHoldsTheFleet(t *testing.T) {
	const fleet = 40000
	m, err := New(nil, Options{DefaultMapping: true, MaxTopics: 50000})
	if err != nil {
		t.Fatal(err)
	}
	first := mapFleet(t, m, 0, fleet)
	second := mapFleet(t, m, 0, fleet)
	hits := 0
	for i := range fleet {
		if second[i] != nil && second[i] == first[i] {
			hits++
		}
	}
	if hits < fleet*98/100 {
		t.Errorf("%d of %d second messages found their topic's entry, want at least 98 %%", hits, fleet)
	}
	if made := m.topics.entries.Load(); made > fleet {
		t.Errorf("%d entries made for %d topics", made, fleet)
	}
}

// TestTopicCacheBounded: the cache holds at most MaxTopics topics however many there are, and a fleet of many
// more topics than it holds, whose topics evict each other before they come back, makes next to no entries
// once it is full (each would cost an allocation and be evicted unused): the doorkeeper admits a topic only
// when it misses again among the last four misses of its bucket.
func TestTopicCacheBounded(t *testing.T) {
	const maxTopics = 1000
	m, err := New(nil, Options{DefaultMapping: true, MaxTopics: maxTopics})
	if err != nil {
		t.Fatal(err)
	}
	topics := 20 * topicWays * len(m.topics.buckets)
	for range 2 {
		mapFleet(t, m, 0, topics)
	}
	if made := m.topics.entries.Load(); made > maxTopics+int64(2*topics)/100 {
		t.Errorf("%d entries made for %d messages over %d topics, want at most %d and 1 %%", made, 2*topics, topics, maxTopics)
	}
	if held := heldTopics(m.topics); held > maxTopics {
		t.Errorf("%d topics held, more than %d", held, maxTopics)
	}
	// A new working set is cached after a few rounds in the full cache, in place of the fleet's topics wherever
	// its hash puts it (sweep). How many rounds a topic needs depends on which of the fleet's topics share its
	// bucket (the hash seed is random), so it gets eight and most, not all, must be in (195 of 200 after four
	// rounds was seen once; without the sweep none get in).
	const working = 200
	var prev []*store.SeriesHint
	for range 8 {
		prev = mapFleet(t, m, topics, working)
	}
	hits := 0
	for i, h := range mapFleet(t, m, topics, working) {
		if h != nil && h == prev[i] {
			hits++
		}
	}
	if hits < working*95/100 {
		t.Errorf("%d of %d topics of a new working set found their entry, want at least 95 %%", hits, working)
	}
	if held := heldTopics(m.topics); held > maxTopics {
		t.Errorf("%d topics held, more than %d", held, maxTopics)
	}
}

// TestTopicCacheMemoryBound: the cache's memory is bounded by MaxTopics: buckets of one cache line each, fewer
// than MaxTopics of them (at least minTopicBuckets), and at most MaxTopics entries of about 260 bytes with
// their labels and device.
func TestTopicCacheMemoryBound(t *testing.T) {
	if size := unsafe.Sizeof(topicBucket{}); size != 64 {
		t.Errorf("a bucket takes %d bytes, want one cache line (64)", size)
	}
	for _, n := range []int{1, 1000, DefaultMaxTopics, 100000, 166667, 10_000_000} {
		b := topicBucketsFor(n)
		if b*topicWays < min(2*n, maxTopicBuckets*topicWays) || b > max(n, minTopicBuckets) || b&(b-1) != 0 {
			t.Errorf("MaxTopics %d: %d buckets, want a power of two with at least twice as many entries, fewer buckets than topics", n, b)
		}
	}
	const topics = 5000
	m, err := New(nil, Options{DefaultMapping: true, MaxTopics: topics})
	if err != nil {
		t.Fatal(err)
	}
	mapFleet(t, m, topics, 10) // the scratch space and the names
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	mapFleet(t, m, 0, topics)
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := heldTopics(m.topics)
	if held < topics*98/100 {
		t.Fatalf("%d of %d topics held", held, topics)
	}
	perTopic := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(held)
	t.Logf("%d bytes per topic held", perTopic)
	if perTopic > 400 {
		t.Errorf("%d bytes per topic held, want at most 400", perTopic)
	}
	runtime.KeepAlive(m)
}

// TestTopicCacheConcurrentChurn: mappers share one cache across goroutines (the broker maps on each client's
// goroutine), so a full cache is swept and replaced from several at once: no message may get another topic's
// device or labels, and nothing may panic on an entry another goroutine just emptied (run it with -race).
func TestTopicCacheConcurrentChurn(t *testing.T) {
	const maxTopics, topics, workers = 64, 2000, 4
	m, err := New(nil, Options{DefaultMapping: true, MaxTopics: maxTopics})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"temperature":21.5}`)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for round := range 3 {
				for i := range topics {
					topic := fleetTopic((i*7 + w*131 + round) % topics)
					res, err := m.Map(topic, payload, testNow)
					if err == nil && (len(res.Samples) != 1 || "city/"+res.Device != topic) {
						err = fmt.Errorf("topic %s mapped to device %q (%d samples)", topic, res.Device, len(res.Samples))
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if held := heldTopics(m.topics); held > maxTopics {
		t.Errorf("%d topics held, more than %d", held, maxTopics)
	}
}
