package influx

import (
	"context"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"citywatch/internal/testenv"
	"citywatch/store"
)

// BenchmarkQueueVsDirect measures samples/s through Append → disk queue → InfluxDB against writing the same
// batches directly with the client's blocking write API, in the same run against the same influxd, and the
// queue's disk bytes per sample. Run: go test -run XXX -bench QueueVsDirect -benchtime 10x ./store/influx/
func BenchmarkQueueVsDirect(b *testing.B) {
	const batches, size = 4, 5000
	influx := testenv.Influxd(b)
	base := time.Now().Add(-24 * time.Hour).UnixMilli()

	// Queue footprint: one batch appended to a writer that is not started.
	fw, err := New(testConfig(influx.URL, influx.Bucket, b.TempDir()), Deps{})
	if err != nil {
		b.Fatal(err)
	}
	if err := fw.Append(context.Background(), seq("bench_size", 0, size, base)); err != nil {
		b.Fatal(err)
	}
	bytesPerSample := float64(fw.f.Queue().Stats().Bytes) / size
	if err := fw.Close(); err != nil {
		b.Fatal(err)
	}

	cfg := testConfig(influx.URL, influx.Bucket, b.TempDir())
	cfg.BatchSize = size
	w, err := New(cfg, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	client := influxdb2.NewClientWithOptions(influx.URL, "", influxdb2.DefaultOptions().SetPrecision(time.Millisecond))
	defer client.Close()
	direct := client.WriteAPIBlocking("", influx.Bucket)
	enc := newEncoder(sortedTags(cfg.staticTags()), lineprotocol.Millisecond)

	var directDur, queueDur time.Duration
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sets := make([][]store.Sample, batches)
		for j := range sets {
			sets[j] = seq("bench", n, size, base)
			n += size
		}
		start := time.Now()
		for _, s := range sets {
			lines := make([]string, 0, len(s))
			for k := range s {
				buf, _, err := enc.encode(nil, &s[k])
				if err != nil {
					b.Fatal(err)
				}
				lines = append(lines, string(buf[:len(buf)-1]))
			}
			if err := direct.WriteRecord(context.Background(), lines...); err != nil {
				b.Fatal(err)
			}
		}
		directDur += time.Since(start)

		target := w.Status().Sent + batches*size
		start = time.Now()
		for _, s := range sets {
			// The same samples under another measurement, so that neither path overwrites the other's points.
			for k := range s {
				s[k].Name = "bench_q"
			}
			if err := w.Append(context.Background(), s); err != nil {
				b.Fatal(err)
			}
		}
		for w.Status().Sent < target {
			time.Sleep(time.Millisecond)
		}
		queueDur += time.Since(start)
	}
	b.StopTimer()
	total := float64(b.N * batches * size)
	b.ReportMetric(total/directDur.Seconds(), "direct_samples/s")
	b.ReportMetric(total/queueDur.Seconds(), "queue_samples/s")
	b.ReportMetric(directDur.Seconds()/queueDur.Seconds(), "queue/direct_ratio")
	b.ReportMetric(bytesPerSample, "queue_bytes/sample")
}

// BenchmarkEncode measures encoding a batch of 5,000 samples shaped like the bench's (two labels, one static
// tag). Run: go test -run XXX -bench Encode ./store/influx/
func BenchmarkEncode(b *testing.B) {
	s := seq("bench_queue", 0, 5000, time.Now().UnixMilli())
	e := newEncoder(sortedTags(map[string]string{"edge": "bench"}), lineprotocol.Millisecond)
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		for k := range s {
			var err error
			if buf, _, err = e.encode(buf, &s[k]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(s)), "ns/sample")
}
