package tsdb

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"citywatch/internal/testenv"
	"citywatch/store"
)

// headMemorySeries is how many series TestHeadMemoryPerSeries creates: enough that fixed costs (stripes,
// pools) are a few bytes per series.
const headMemorySeries = 30_000

// maxHeadBytesPerSeries bounds the Go heap one series costs in the DB (the TSDB head, the series cache and its
// label set's group) at steady state, after a second sample. Measured 748 bytes: since 2026-12-08 a series joins
// its group when it is created, where before the group was built on the device's second message, so a single
// message measured 703 bytes and hid the group's 45; the second round makes both measure what a fleet costs. The
// bound sits just above, so that a change which adds a pointer-sized field per series shows here.
const maxHeadBytesPerSeries = 752

// TestHeadMemoryPerSeries: a series in the head costs at most maxHeadBytesPerSeries of Go heap, the figure
// behind the 1.5 KiB of process memory per series at a million series (docs/benchmarks.md).
func TestHeadMemoryPerSeries(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	fields := []string{"temperature", "humidity", "co2", "pm25", "battery", "rssi"}
	devices := headMemorySeries / len(fields)
	msgs := make([][]store.Sample, devices)
	for d := range msgs {
		ls := []store.Label{{Name: "device", Value: "dev" + strconv.Itoa(d)}, {Name: "district", Value: "d" + strconv.Itoa(d%10)},
			{Name: "site", Value: "site" + strconv.Itoa(d%50)}}
		for _, f := range fields {
			msgs[d] = append(msgs[d], store.Sample{Name: f, Labels: ls, T: base, V: 20})
		}
	}
	before := testenv.HeapAlloc()
	for round := range 2 {
		for _, m := range msgs {
			for i := range m {
				m[i].T = base + int64(round)*1000
			}
			if err := db.Append(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	msgs = nil // the samples' label strings are the caller's, not the DB's
	perSeries := float64(testenv.HeapAlloc()-before) / headMemorySeries
	runtime.KeepAlive(db)
	t.Logf("%.0f bytes of Go heap per series", perSeries)
	if perSeries > maxHeadBytesPerSeries {
		t.Errorf("a head series costs %.0f bytes of Go heap, want ≤ %d", perSeries, maxHeadBytesPerSeries)
	}
}
