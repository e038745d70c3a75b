package ingest

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"citywatch/ingest/mapping"
	"citywatch/store"
)

// sensorMessage is what the mapper makes of one message of a device: fields samples sharing one freshly
// built labels slice (as mapping.Mapper builds one per message).
func sensorMessage(dev string, fields []string) []store.Sample {
	ls := []store.Label{{Name: "device", Value: dev}, {Name: "district", Value: "d1"}, {Name: "site", Value: "s1"}}
	out := make([]store.Sample, len(fields))
	for i, f := range fields {
		out[i] = store.Sample{Name: f, Labels: ls, V: float64(i)}
	}
	return out
}

func seriesChecked(r *registry) uint64 {
	var n uint64
	for i := range r.shards {
		r.shards[i].mu.Lock()
		n += r.shards[i].seriesChecked
		r.shards[i].mu.Unlock()
	}
	return n
}

// TestAdmitSeriesRepeatMessage: the per-device series limit costs a set lookup per series only when a
// device's series change, not for every message of a sensor that sends the same fields each time (it was five
// hashes and five map lookups per 5-field message, 8 % of the embedded QoS 0 path's CPU). Operations are
// counted, not timed.
func TestAdmitSeriesRepeatMessage(t *testing.T) {
	r := newRegistry(100, 64, 200, prometheus.NewCounter(prometheus.CounterOpts{Name: "e"}), nil)
	fields := []string{"temperature", "humidity", "co2", "pm25", "noise"}
	const devices, messages = 10, 1000
	for i := range messages {
		dev := "dev" + strconv.Itoa(i%devices)
		res := mapping.Result{Device: dev}
		samples := sensorMessage(dev, fields)
		keep, refused, _, _ := r.admitSeries(&res, samples, t0.Add(time.Duration(i)*time.Millisecond))
		require.Zero(t, refused)
		require.Len(t, keep, len(fields))
	}
	require.Equal(t, uint64(devices*len(fields)), seriesChecked(r), "each series looked up once, at its device's first message")
}

// seriesLimitSteps is a timeline of one device's messages against a limit of 5 series; each step says how
// many samples are refused.
var seriesLimitSteps = []struct {
	name    string
	after   time.Duration // since the start
	fields  []string
	refused int
}{
	{"first message fills the limit", 0, []string{"a", "b", "c", "d", "e"}, 0},
	{"the same series again", time.Second, []string{"a", "b", "c", "d", "e"}, 0},
	{"new series beyond the limit are refused", 2 * time.Second, []string{"f", "g"}, 2},
	{"the known series still pass after a refusal", 3 * time.Second, []string{"a", "b", "c", "d", "e"}, 0},
	{"a subset passes", 4 * time.Second, []string{"a", "b"}, 0},
	{"mixed: known pass, the new one is refused", 5 * time.Second, []string{"a", "x"}, 1},
	{"the same series in another order", 6 * time.Second, []string{"e", "d", "c", "b", "a"}, 0},
	// One generation later the series count from the previous generation until they are seen again.
	{"after a generation, two of the old series", seriesGeneration + 7*time.Second, []string{"a", "b"}, 0},
	{"the other three still count", seriesGeneration + 8*time.Second, []string{"f", "g"}, 2},
	// Two idle generations forget them all.
	{"after two idle generations new series fit", 4*seriesGeneration + 9*time.Second, []string{"f", "g", "h", "i", "j"}, 0},
	{"and the old ones no longer do", 4*seriesGeneration + 10*time.Second, []string{"a"}, 1},
	{"the new ones again, on their signature", 4*seriesGeneration + 11*time.Second, []string{"f", "g", "h", "i", "j"}, 0},
}

// TestAdmitSeriesLimitTimeline checks that admitting a message on its signature never lets a series past the
// limit: refusals, subsets, reordering and generation turnover.
func TestAdmitSeriesLimitTimeline(t *testing.T) {
	r := newRegistry(100, 64, 5, prometheus.NewCounter(prometheus.CounterOpts{Name: "e"}), nil)
	for _, st := range seriesLimitSteps {
		res := mapping.Result{Device: "dev1"}
		keep, refused, _, _ := r.admitSeries(&res, sensorMessage("dev1", st.fields), t0.Add(st.after))
		require.Equal(t, st.refused, refused, st.name)
		require.Len(t, keep, len(st.fields)-st.refused, st.name)
	}
}

// TestSeenEntryAfterEviction: the entry the door found for a message is reused when the message is stored,
// unless the device was evicted in between; then the device is registered again, never updated out of sight.
func TestSeenEntryAfterEviction(t *testing.T) {
	r := newRegistry(2, 64, 200, prometheus.NewCounter(prometheus.CounterOpts{Name: "e"}), nil)
	fields := []string{"temperature"}
	admit := func(dev string, at time.Duration) (mapping.Result, deviceRef) {
		res := mapping.Result{Device: dev, DeviceLabels: []store.Label{{Name: "device", Value: dev}}, Samples: sensorMessage(dev, fields)}
		_, refused, _, ref := r.admitSeries(&res, res.Samples, t0.Add(at))
		require.Zero(t, refused)
		require.NotNil(t, ref.e)
		return res, ref
	}
	resA, refA := admit("a", 0)
	r.seenEntry(refA, &resA, t0, false)
	// b's message passes the door; c and d arrive meanwhile and the full registry evicts b's new entry
	// (admitted, not yet seen: first in line) and then a.
	resB, refB := admit("b", time.Second)
	for i, dev := range []string{"c", "d"} {
		res, ref := admit(dev, time.Duration(2+i)*time.Second)
		r.seenEntry(ref, &res, t0.Add(time.Duration(2+i)*time.Second), false)
	}
	require.True(t, refB.e.evicted)
	r.seenEntry(refB, &resB, t0.Add(5*time.Second), false)
	ids := map[string]uint64{}
	for _, d := range r.list() {
		ids[d.ID] = d.Messages
	}
	require.Equal(t, uint64(1), ids["b"], "the stored message registers its device again: %v", ids)
	require.Equal(t, 2, r.len())
	checkShardLists(t, r)

	// A live entry is updated in place.
	resD := mapping.Result{Device: "d", DeviceLabels: []store.Label{{Name: "device", Value: "d"}}, Samples: sensorMessage("d", fields)}
	_, _, _, refD := r.admitSeries(&resD, resD.Samples, t0.Add(6*time.Second))
	r.seenEntry(refD, &resD, t0.Add(6*time.Second), false)
	for _, d := range r.list() {
		if d.ID == "d" {
			require.Equal(t, uint64(2), d.Messages)
		}
	}
}
