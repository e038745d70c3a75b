package remotewrite

import (
	"context"
	"strconv"
	"testing"
	"time"

	"citywatch/store"
	"citywatch/store/forward"
)

// BenchmarkAppend measures encoding and queueing batches of 5,000 samples (no sender).
func BenchmarkAppend(b *testing.B) {
	w, err := New(Config{Name: "bench", URL: "http://127.0.0.1:1/api/v1/write", Settings: forward.Settings{
		Edge: "bench", QueueDir: b.TempDir(), BatchSize: 5000, FlushInterval: time.Second, QueueMaxBytes: 256 << 20}}, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	batch := make([]store.Sample, 5000)
	for i := range batch {
		batch[i] = store.Sample{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "dev" + strconv.Itoa(i%1000)},
			{Name: "district", Value: "d" + strconv.Itoa(i%10)}}, T: int64(i), V: float64(i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "samples/s")
}
