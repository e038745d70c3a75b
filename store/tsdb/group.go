package tsdb

import "citywatch/store"

// Series groups. A sensor message's samples share one label set and differ by metric name, and a device's
// messages keep naming the same few series. A group is the current cache generation's entries of one label
// set, with their names: Append finds the group once per message (one map lookup, one walk over the labels)
// and then each sample's series by comparing names, instead of a map lookup and a walk over the label set per
// sample. A group costs about 50 bytes per series (a device of 5-6 series) on top of its entries; it is only
// an index of entries the shard's generations hold, and is dropped when the generation turns over. A series
// joins its group when Append creates it, or finds it in the cache, so a device's second message already finds
// its series through the group.

// maxGroupSeries bounds the series one group indexes; the series of a label set beyond it are looked up one
// by one as before.
const maxGroupSeries = 32

// seriesGroup is the entries of the series of one label set, by metric name.
type seriesGroup struct {
	names   []string
	entries []*seriesEntry
}

// find returns the entry of the group's series named name, or nil. g may be nil.
func (g *seriesGroup) find(name string) *seriesEntry {
	if g == nil {
		return nil
	}
	for i, n := range g.names {
		if n == name {
			return g.entries[i]
		}
	}
	return nil
}

// group returns the group of label set ls (labels hash h), or nil. A group under h whose label set is another
// (a hash collision, or labels spelled otherwise) is not returned.
func (s *shard) group(h uint64, ls []store.Label) *seriesGroup {
	s.groupLookups++
	g := s.groups[h]
	if g == nil || !g.entries[0].matchesLabels(ls, "", false) {
		return nil
	}
	return g
}

// addToGroup adds entry e, which the cache matched for sample smp, to the group of smp's labels (labels hash
// h) and returns that group. g is the group found for those labels, or nil: a new group then replaces any
// other under h.
func (s *shard) addToGroup(g *seriesGroup, h uint64, smp *store.Sample, e *seriesEntry) *seriesGroup {
	if g == nil {
		g = &seriesGroup{}
		s.groups[h] = g
	}
	if len(g.names) < maxGroupSeries {
		g.names = append(g.names, smp.Name)
		g.entries = append(g.entries, e)
	}
	return g
}
