package tsdb

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	promtsdb "github.com/prometheus/prometheus/tsdb"

	"citywatch/store"
)

const benchDevices = 200 // × 5 fields = 1000 series.

func benchMessages() [][]store.Sample {
	msgs := make([][]store.Sample, benchDevices)
	for d := range msgs {
		msgs[d] = message("sensor"+strconv.Itoa(d), base, 0)
	}
	return msgs
}

// BenchmarkAppend5 appends one 5-field sensor message per op over 1000 series, each call committed to the
// WAL. It reports samples/s and the ratio of its time to a baseline measured in the same run: the raw
// Prometheus head appender with label sets and references kept by the caller (no validation, no cache
// lookups, no locking), the floor of what Append can cost.
func BenchmarkAppend5(b *testing.B) {
	db := openT(b, Config{}, Deps{})
	msgs := benchMessages()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := msgs[i%benchDevices]
		t := base + int64(i/benchDevices)*1000
		for j := range m {
			m[j].T = t
		}
		if err := db.Append(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	nsPerOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(5e9/nsPerOp, "samples/s")
	if b.N >= 1000 {
		step, done := rawHeadAppender(b)
		defer done()
		start := time.Now()
		for i := range b.N {
			step(i)
		}
		rawNsPerOp := float64(time.Since(start).Nanoseconds()) / float64(b.N)
		b.ReportMetric(rawNsPerOp, "raw_tsdb_ns/op")
		b.ReportMetric(nsPerOp/rawNsPerOp, "x_raw_tsdb")
	}
}

// BenchmarkAppend5Parallel is BenchmarkAppend5 from GOMAXPROCS goroutines, each with its own devices.
func BenchmarkAppend5Parallel(b *testing.B) {
	db := openT(b, Config{}, Deps{})
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := worker.Add(1)
		msgs := make([][]store.Sample, benchDevices/4)
		for d := range msgs {
			msgs[d] = message("w"+strconv.FormatInt(w, 10)+"sensor"+strconv.Itoa(d), base, 0)
		}
		i := 0
		for pb.Next() {
			m := msgs[i%len(msgs)]
			t := base + int64(i/len(msgs))*1000
			for j := range m {
				m[j].T = t
			}
			if err := db.Append(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	b.ReportMetric(5e9/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "samples/s")
}

// rawHeadAppender returns a step that appends the i-th message of BenchmarkAppend5 straight to a Prometheus
// head appender, and a cleanup.
func rawHeadAppender(b *testing.B) (step func(i int), done func()) {
	dir := b.TempDir()
	pdb, err := promtsdb.Open(dir, nil, nil, promtsdb.DefaultOptions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	msgs := benchMessages()
	lsets := make([][]labels.Labels, len(msgs))
	refs := make([][]storage.SeriesRef, len(msgs))
	for d, m := range msgs {
		for _, s := range m {
			sb := labels.NewScratchBuilder(4)
			sb.Add(labels.MetricName, s.Name)
			for _, l := range s.Labels {
				sb.Add(l.Name, l.Value)
			}
			sb.Sort()
			lsets[d] = append(lsets[d], sb.Labels())
		}
		refs[d] = make([]storage.SeriesRef, len(m))
	}
	ctx := context.Background()
	step = func(i int) {
		d := i % benchDevices
		t := base + int64(i/benchDevices)*1000
		app := pdb.Appender(ctx)
		for j := range lsets[d] {
			ref, err := app.Append(refs[d][j], lsets[d][j], t, 0)
			if err != nil {
				b.Fatal(err)
			}
			refs[d][j] = ref
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return step, func() { _ = pdb.Close() }
}

// BenchmarkAppendBatch appends 200 five-field sensor messages per call (of 1,000 devices, 5,000 series), as
// the ingest pipeline's batched commits do: the series lookups, not the write-ahead-log write, dominate. It
// reports the time per sample.
func BenchmarkAppendBatch(b *testing.B) {
	db := openT(b, Config{}, Deps{})
	const devices, perCall = 1000, 200
	msgs := make([][]store.Sample, devices)
	for d := range msgs {
		msgs[d] = message("sensor"+strconv.Itoa(d), base, 0)
	}
	call := make([]store.Sample, 0, perCall*5)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		call = call[:0]
		for k := range perCall {
			m := i*perCall + k
			for _, s := range msgs[m%devices] {
				s.T = base + int64(m/devices)*1000
				call = append(call, s)
			}
		}
		if err := db.Append(ctx, call); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(call)), "ns/sample")
}
