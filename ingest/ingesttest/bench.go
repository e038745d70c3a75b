// Package ingesttest holds what the benchmarks of ingest and its sources share: the pipeline `citywatch serve`
// runs and a process CPU clock.
package ingesttest

import (
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/ingest"
	"citywatch/ingest/mapping"
	"citywatch/store/tsdb"
)

// NewTSDBPipeline returns a pipeline with the default mapping appending into a TSDB on disk (write-ahead log)
// in tb.TempDir(), its metrics registered on reg. The TSDB is closed when tb cleans up.
func NewTSDBPipeline(tb testing.TB, reg prometheus.Registerer) *ingest.Pipeline {
	tb.Helper()
	db, err := tsdb.Open(tsdb.Config{Dir: tb.TempDir()}, tsdb.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	m, err := mapping.New(nil, mapping.Options{DefaultMapping: true})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := ingest.NewPipeline(ingest.PipelineConfig{}, ingest.PipelineDeps{Mapper: m, Appender: db, Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// CPUTime returns the CPU time (user + system) the whole process has used: per message, a steadier figure
// than wall time on a shared machine.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
