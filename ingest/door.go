package ingest

import (
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"

	"citywatch/store"
)

// The door is what the pipeline checks before the store: sample times (nothing a device sends may move time for
// the other devices), arrival stamps (readings that arrive in one millisecond are all kept) and, in the
// registry, the per-device series limit.

// stampSlots is the number of arrival-stamp slots. A slot holds the last arrival stamp given to the topics that
// hash to it; two topics sharing a slot only move each other's stamps by a millisecond now and then.
const stampSlots = 1 << 14

// arrivalStamps gives readings without a time of their own strictly increasing times per topic:
// T = max(receive ms, last T of the topic + 1). Its memory is fixed (stampSlots int64s), however many topics.
type arrivalStamps struct {
	seed  maphash.Seed
	slots [stampSlots]atomic.Int64
}

func newArrivalStamps() *arrivalStamps { return &arrivalStamps{seed: maphash.MakeSeed()} }

// stamp returns the arrival stamp of a message on topic received at recvMs, or ok false when the topic's stamps
// already run more than maxLead ahead of the receive time (more than a thousand messages a second on one topic,
// for longer than maxLead): then the message cannot get a millisecond of its own near its arrival.
//
// A slot further ahead than a flood can push it (maxLead plus a tenth, at least a second) means the receive
// clock stepped back (an NTP correction): the topic starts again from its arrival time instead of refusing
// every reading until the wall clock catches up.
func (a *arrivalStamps) stamp(topic string, recvMs int64, maxLead time.Duration) (t int64, ok bool) {
	slot := &a.slots[maphash.String(a.seed, topic)%stampSlots]
	step := (maxLead + max(time.Second, maxLead/10)).Milliseconds()
	for {
		last := slot.Load()
		if maxLead > 0 && last-recvMs > step {
			if slot.CompareAndSwap(last, recvMs) {
				return recvMs, true
			}
			continue
		}
		t = max(recvMs, last+1)
		if maxLead > 0 && t-recvMs > maxLead.Milliseconds() {
			return t, false
		}
		if slot.CompareAndSwap(last, t) {
			return t, true
		}
	}
}

// timeBounds are the sample times the pipeline lets through for one message, in Unix milliseconds.
type timeBounds struct {
	recv     time.Time
	min, max int64 // inclusive; math.MinInt64 / math.MaxInt64 when unchecked
}

// verdict is why the door refuses a sample; verdictOK lets it through.
type verdict uint8

const (
	verdictOK verdict = iota
	verdictFuture
	verdictTooOld
	verdictSeriesLimit
	numVerdicts
)

// refusals collects the samples of one message the door refused, per verdict.
type refusals struct {
	count [numVerdicts]int
	first [numVerdicts]store.Sample
}

func (r *refusals) add(v verdict, s *store.Sample) {
	if r.count[v] == 0 {
		r.first[v] = *s
	}
	r.count[v]++
}

func (r *refusals) any() bool {
	return r.count[verdictFuture]+r.count[verdictTooOld]+r.count[verdictSeriesLimit] > 0
}

// errFor says what is wrong with the first sample refused for v.
func (r *refusals) errFor(v verdict, b timeBounds, cfg *PipelineConfig, device string) error {
	s := &r.first[v]
	series := store.LabelsString(s.Name, s.Labels)
	switch v {
	case verdictFuture:
		return fmt.Errorf("%s stamped %s, %s ahead of the receive time %s; more than ingest.max_future_skew (%s) "+
			"ahead is refused so that no device can move time for the others (check the device clock)",
			series, fmtMillis(s.T), fmtAhead(s.T, b.recv), b.recv.UTC().Format(time.RFC3339Nano), cfg.MaxFutureSkew)
	case verdictTooOld:
		return fmt.Errorf("%s stamped %s, %s before the receive time %s; the store takes samples at most %s old "+
			"(storage.tsdb.out_of_order_window)", series, fmtMillis(s.T), fmtAhead(b.recv.UnixMilli(), time.UnixMilli(s.T)),
			b.recv.UTC().Format(time.RFC3339Nano), cfg.MaxSampleAge)
	case verdictSeriesLimit:
		return fmt.Errorf("new series %s refused: device %q already has %d series (ingest.max_series_per_device); "+
			"its existing series are still stored", series, device, cfg.MaxSeriesPerDevice)
	}
	return nil
}

// fmtMillis renders a Unix millisecond time for a message, also when it is beyond what time.Time formats.
func fmtMillis(ms int64) string {
	t := time.UnixMilli(ms).UTC()
	if t.Year() > 9999 || t.Year() < 0 {
		return fmt.Sprintf("%d ms", ms)
	}
	return t.Format(time.RFC3339Nano)
}

// fmtAhead renders how far ms is after ref, saturating instead of overflowing.
func fmtAhead(ms int64, ref time.Time) string {
	d := ms - ref.UnixMilli()
	if d > int64(time.Duration(1<<63-1)/time.Millisecond) {
		return fmt.Sprintf("%d days", d/(24*3600*1000))
	}
	return (time.Duration(d) * time.Millisecond).String()
}
