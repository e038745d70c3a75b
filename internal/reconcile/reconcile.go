// Package reconcile computes what a configuration reload changes in a keyed list of running things (cameras,
// decoders, buffers), as mediamtx's core does for its paths: the items whose configuration is unchanged are
// kept as they are, the others are built anew, and the ones the new list drops are returned for the caller to
// stop. It only plans; starting and stopping stay with the caller, which knows its goroutines.
package reconcile

// Set is a keyed list of items in configuration order. A reload replaces it whole, so readers may load it
// (through an atomic pointer) without a lock.
type Set[T comparable] struct {
	// List is the items in configuration order.
	List []T
	// ByID is the items by id.
	ByID map[string]T
}

// Get is the item with this id, or the zero T.
func (s *Set[T]) Get(id string) T { return s.ByID[id] }

// Plan builds the set for cfgs. An item of cur with the same id whose configuration is unchanged (same says
// so) is kept; every other one is made by build. stale are cur's items the new set does not keep (removed,
// or changed and so replaced), in cur's order. cur may be nil (the first build). On a build error nothing is
// returned and nothing in cur is touched.
func Plan[C any, T comparable](cur *Set[T], cfgs []C, id func(C) string, same func(T, C) bool, build func(C) (T, error)) (next *Set[T], stale []T, err error) {
	next = &Set[T]{List: make([]T, 0, len(cfgs)), ByID: make(map[string]T, len(cfgs))}
	var zero T
	for _, c := range cfgs {
		item := zero
		if cur != nil {
			if old, ok := cur.ByID[id(c)]; ok && same(old, c) {
				item = old
			}
		}
		if item == zero {
			if item, err = build(c); err != nil {
				return nil, nil, err
			}
		}
		next.List = append(next.List, item)
		next.ByID[id(c)] = item
	}
	if cur != nil {
		kept := make(map[T]bool, len(next.List))
		for _, item := range next.List {
			kept[item] = true
		}
		for _, old := range cur.List {
			if !kept[old] {
				stale = append(stale, old)
			}
		}
	}
	return next, stale, nil
}
