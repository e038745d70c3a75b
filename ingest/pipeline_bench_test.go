package ingest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/ingest"
	"citywatch/ingest/ingesttest"
)

// benchTopics are the topics of the pipeline benchmarks' 1,000 devices, in 4 districts and 20 sites.
func benchTopics() []string {
	topics := make([]string, 1000)
	for i := range topics {
		topics[i] = fmt.Sprintf("city/d%d/site%d/sensor%d", i%4, i%20, i)
	}
	return topics
}

// benchPayload is the pipeline benchmarks' 5-field JSON message.
var benchPayload = []byte(`{"temperature":21.5,"humidity":40,"co2":612,"pm25":8.1,"noise":41}`)

// BenchmarkPipelineTSDB measures the whole decode → map → door → append path per message into a real TSDB
// (write-ahead log on disk), with the default mapping and a 5-field JSON payload from 1,000 devices, sent by 1
// and by 8 concurrent sources (the broker's client read loops, the external source's workers).
func BenchmarkPipelineTSDB(b *testing.B) {
	for _, sources := range []int{1, 8} {
		b.Run(fmt.Sprintf("sources=%d", sources), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			p := ingesttest.NewTSDBPipeline(b, reg)
			topics, payload := benchTopics(), benchPayload
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := ingesttest.CPUTime()
			b.ResetTimer()
			done := make(chan error, sources)
			for s := range sources {
				go func() {
					var err error
					for i := s; i < b.N; i += sources {
						if e := p.Handle(ctx, ingest.Message{Topic: topics[i%len(topics)], Payload: payload, Received: time.Now(),
							Source: "bench"}); e != nil && err == nil {
							err = e
						}
					}
					done <- err
				}()
			}
			for range sources {
				if err := <-done; err != nil {
					b.Error(err)
				}
			}
			b.StopTimer()
			// CPU time (user + system, whole process) per message: on a shared machine a steadier figure than
			// the wall time of ns/op.
			b.ReportMetric(float64((ingesttest.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if commits := histogramCount(reg, "citywatch_ingest_batch_messages"); commits > 0 {
				b.ReportMetric(float64(b.N)/float64(commits), "msgs/commit")
			}
		})
	}
}

// histogramCount returns the sample count of a histogram in reg, 0 when there is none (before batching).
func histogramCount(reg *prometheus.Registry, name string) uint64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// BenchmarkPipelineTSDBAsync is BenchmarkPipelineTSDB the way the embedded broker hands QoS 0 publishes over:
// HandleAsync from 4 client read loops, nobody waiting for a commit, so batches fill up (up to
// BatchMaxMessages). The clock stops when every message is complete. This is the path of the QoS 0 serve row.
func BenchmarkPipelineTSDBAsync(b *testing.B) {
	const sources = 4
	reg := prometheus.NewRegistry()
	p := ingesttest.NewTSDBPipeline(b, reg)
	topics, payload := benchTopics(), benchPayload
	ctx := context.Background()
	var completed, failed atomic.Int64
	done := func(err error) {
		if err != nil {
			failed.Add(1)
		}
		completed.Add(1)
	}
	b.ReportAllocs()
	cpu0 := ingesttest.CPUTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < b.N; i += sources {
				// A fresh topic string per message, as mochi decodes one per packet.
				topic := strings.Clone(topics[i%len(topics)])
				p.HandleAsync(ctx, ingest.Message{Topic: topic, Payload: payload, Received: time.Now(), Source: "bench"}, done)
			}
		}()
	}
	wg.Wait()
	for completed.Load() < int64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d messages failed", n)
	}
	b.ReportMetric(float64((ingesttest.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	if commits := histogramCount(reg, "citywatch_ingest_batch_messages"); commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "msgs/commit")
	}
}
