package tsdb

import "citywatch/store"

// Series hints (store.SeriesHint). A producer that sends the samples of one label set again and again (the
// mapping's topic cache: one labels slice per sensor topic) gives them one hint, and Append keeps in it the
// series group of that label set, so that the next message's samples find their group without hashing their
// labels, a map lookup and a walk over the label set. The group still finds each series by name, and the
// series is appended by its head reference with its label set, as without a hint.
//
// A hint is used only when it is this database's, was made for the very labels slice the sample carries (the
// SeriesHint contract: that slice never changes) and is of the shard's current cache generation; otherwise it
// is ignored and replaced. So a hint never sends a sample to another series' entry. A series deleted from the
// head (DeleteSeries) keeps its cache entry, as without hints: its stale head reference is unknown to the head,
// which then looks the series up by its label set and creates it again (head references are never reused).

// hintState is what a store.SeriesHint holds for the embedded TSDB. It is immutable: Append replaces it.
type hintState struct {
	sh     *shard
	gen    uint64 // sh.gen when g was found
	lhash  uint64 // the labels hash (the shard and the group key)
	g      *seriesGroup
	labels []store.Label // the slice the hint was made for
}

// hintOf returns the sample's hint when this database made it for the sample's labels slice, else nil. Its
// generation is checked under the shard's lock, by Append.
func (d *DB) hintOf(s *store.Sample) *hintState {
	if s.Hint == nil {
		return nil
	}
	hs, _ := s.Hint.Load().(*hintState)
	if hs == nil || hs.sh != &d.shards[hs.lhash%numShards] || !sameLabels(hs.labels, s.Labels) {
		return nil
	}
	return hs
}
