package ingest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"citywatch/ingest/mapping"
	"citywatch/store/tsdb"
)

// BenchmarkPipelineSeriesMemory creates devices × 6 series through the pipeline into a real TSDB, as the bench's
// scale row does through serve (topic city/dD/siteS/devN, 6-field JSON), and reports the Go heap in use per
// series after a collection (heap-B/series). CITYWATCH_HEAP_PROFILE=file writes the heap profile (inuse_space)
// there, to see where the bytes go. CITYWATCH_SERIES sets the number of series (100000).
func BenchmarkPipelineSeriesMemory(b *testing.B) {
	series := 100000
	if s := os.Getenv("CITYWATCH_SERIES"); s != "" {
		series, _ = strconv.Atoi(s)
	}
	const fields = 6
	devices := series / fields
	names := []string{"temperature", "humidity", "co2", "pm25", "battery", "rssi"}
	for range b.N {
		db, err := tsdb.Open(tsdb.Config{Dir: b.TempDir()}, tsdb.Deps{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := mapping.New(nil, mapping.Options{DefaultMapping: true})
		if err != nil {
			b.Fatal(err)
		}
		p, err := NewPipeline(PipelineConfig{MaxDevices: devices + 1}, PipelineDeps{Mapper: m, Appender: db})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		ctx := context.Background()
		for dev := range devices {
			topic := "city/d" + strconv.Itoa(dev%10) + "/site" + strconv.Itoa(dev%50) + "/dev" + strconv.Itoa(dev)
			payload := []byte("{")
			for f, n := range names {
				if f > 0 {
					payload = append(payload, ',')
				}
				payload = fmt.Appendf(payload, `"%s":%d.5`, n, 20+f)
			}
			payload = append(payload, '}')
			if err := p.Handle(ctx, Message{Topic: topic, Payload: payload, Received: time.Now(), Source: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(devices*fields), "heap-B/series")
		if f := os.Getenv("CITYWATCH_HEAP_PROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.Lookup("heap").WriteTo(out, 0); err != nil {
				b.Fatal(err)
			}
			out.Close()
		}
		runtime.KeepAlive(p)
		db.Close()
	}
}
