package cameras

import "time"

// windowSeconds is the length of the measurement window for fps, bitrate, loss and corruption.
const windowSeconds = 5

// counts are the per-second counters of a window bucket.
type counts struct {
	packets int64
	lost    int64
	bytes   int64
	frames  int64
	corrupt int64
	// lossCorrupt counts the corrupt frames (of corrupt) that followed lost packets: the loss broke them.
	lossCorrupt int64
}

func (c *counts) add(o counts) {
	c.packets += o.packets
	c.lost += o.lost
	c.bytes += o.bytes
	c.frames += o.frames
	c.corrupt += o.corrupt
	c.lossCorrupt += o.lossCorrupt
}

// window keeps counts per wall-clock second for the last windowSeconds full seconds.
type window struct {
	sec     [windowSeconds + 1]int64
	buckets [windowSeconds + 1]counts
}

func (w *window) bucket(now time.Time) *counts {
	s := now.Unix()
	i := int(uint64(s) % uint64(len(w.sec)))
	if w.sec[i] != s {
		w.sec[i] = s
		w.buckets[i] = counts{}
	}
	return &w.buckets[i]
}

// sum adds the buckets of the full seconds in (now-windowSeconds-1, now) that began at or after start,
// and returns the number of seconds covered.
func (w *window) sum(now, start time.Time) (counts, int) {
	var total counts
	cur := now.Unix()
	first := start.Unix() + 1 // the session's first second is partial
	n := 0
	for s := cur - windowSeconds; s < cur; s++ {
		if s < first {
			continue
		}
		n++
		i := int(uint64(s) % uint64(len(w.sec)))
		if w.sec[i] == s {
			total.add(w.buckets[i])
		}
	}
	return total, n
}
