package mapping

import (
	"fmt"
	"testing"
)

// TestTopicCacheSharesLabels: from its second message on, a topic's samples share one labels slice and one
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
		switch i {
		case 0:
			if s0.Hint != nil {
				t.Fatalf("a topic seen once has a hint: the cache takes a topic on its second miss")
			}
		case 1:
			first = res
		case 2:
			if s0.Hint == nil || s0.Hint != first.Samples[0].Hint || &s0.Labels[0] != &first.Samples[0].Labels[0] {
				t.Fatalf("the third message does not share the second's labels and hint")
			}
			if res.Device != "d1/siteA/sensor42" || &res.DeviceLabels[0] != &first.DeviceLabels[0] {
				t.Fatalf("device %q, labels %v: not the cached ones", res.Device, res.DeviceLabels)
			}
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

// TestTopicCacheBounded: the cache holds at most 2 × topicBuckets topics however many there are, and a fleet
// of more topics than it holds, whose topics evict each other before they come back, makes next to no entries
// (each would cost an allocation and be evicted unused): the doorkeeper admits a topic only when it misses
// twice in a row on its bucket.
func TestTopicCacheBounded(t *testing.T) {
	m, err := New(nil, Options{DefaultMapping: true})
	if err != nil {
		t.Fatal(err)
	}
	const topics = 20 * topicBuckets
	topic := func(i int) string { return fmt.Sprintf("city/d%d/site%d/sensor%d", i%4, i%20, i) }
	payload := []byte(`{"temperature":21.5}`)
	for round := range 2 {
		for i := range topics {
			if _, err := m.Map(topic(i), payload, testNow); err != nil {
				t.Fatalf("round %d, topic %d: %v", round, i, err)
			}
		}
	}
	made := m.topics.entries.Load()
	if made > topics/100 {
		t.Errorf("%d entries made for %d messages over %d topics, want at most 1 %%", made, 2*topics, topics)
	}
	held := 0
	for i := range m.topics.buckets {
		for j := range m.topics.buckets[i] {
			if m.topics.buckets[i][j].Load() != nil {
				held++
			}
		}
	}
	if held > 2*topicBuckets {
		t.Errorf("%d topics held, more than %d", held, 2*topicBuckets)
	}
	// A working set that fits is cached after two rounds.
	m.topics.entries.Store(0)
	for round := range 3 {
		for i := range 1000 {
			if _, err := m.Map(topic(i), payload, testNow); err != nil {
				t.Fatalf("round %d, topic %d: %v", round, i, err)
			}
		}
	}
	if made := m.topics.entries.Load(); made < 990 || made > 1000 {
		t.Errorf("%d entries made for 1,000 topics, want about 1,000", made)
	}
}
