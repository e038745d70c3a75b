package store

import "sync/atomic"

// SeriesHint lets a backend remember where it found the series of one label set, so that later samples with
// that label set skip the lookup (the embedded TSDB keeps the group of their series in it). A producer that
// sends many samples with one labels slice (the mapping's per-topic cache) gives them one hint.
//
// The contract: every sample that carries a hint has the same Labels slice (the same array and length), and
// that slice is never modified. A backend checks that a hint is its own and was made for the sample's
// slice before it uses it, and treats a hint it cannot use as absent, so a hint never makes a sample go to
// another series: at worst it is ignored.
type SeriesHint struct {
	v atomic.Pointer[any]
}

// Load returns what a backend stored, or nil.
func (h *SeriesHint) Load() any {
	if p := h.v.Load(); p != nil {
		return *p
	}
	return nil
}

// Store replaces what the hint holds.
func (h *SeriesHint) Store(v any) { h.v.Store(&v) }
