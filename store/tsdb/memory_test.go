package tsdb

import "testing"

var autoHeadCases = []struct {
	name string
	mem  uint64
	want int
}{
	{"tiny box is floored", 64 << 20, minAutoHeadSeries},
	{"2 GiB edge box", 2 << 30, 131_072},
	{"16 GiB", 16 << 30, 1_048_576},
	{"large server is capped", 256 << 30, maxAutoHeadSeries},
}

// TestAutoMaxHeadSeries: the automatic head limit keeps the head within a quarter of the memory the process may
// use, so a publisher inventing series cannot take an edge box's memory under the default configuration.
func TestAutoMaxHeadSeries(t *testing.T) {
	for _, c := range autoHeadCases {
		if got := autoMaxHeadSeries(c.mem); got != c.want {
			t.Errorf("%s: autoMaxHeadSeries(%d) = %d, want %d", c.name, c.mem, got, c.want)
		}
	}
	if n := AutoMaxHeadSeries(); n < minAutoHeadSeries || n > maxAutoHeadSeries {
		t.Errorf("AutoMaxHeadSeries() = %d, outside [%d, %d]", n, minAutoHeadSeries, maxAutoHeadSeries)
	}
}
