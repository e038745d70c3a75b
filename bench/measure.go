package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/promql"

	"citywatch/store"
	"citywatch/store/tsdb"
)

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rangeQuery loads one hour of 1 s samples for n series and times a 1 h range query at a 15 s step (median of
// five runs after one warm-up).
func rangeQuery(n int) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "citywatch-bench-q-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	db, err := tsdb.Open(tsdb.Config{Dir: dir}, tsdb.Deps{Logger: quiet})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	end := time.Now().Truncate(time.Second)
	start := end.Add(-time.Hour)
	labels := make([][]store.Label, n)
	for i := range labels {
		labels[i] = []store.Label{{Name: "device", Value: "dev" + strconv.Itoa(i)}, {Name: "site", Value: "site" + strconv.Itoa(i%20)}}
	}
	batch := make([]store.Sample, 0, n)
	for t := start; !t.After(end); t = t.Add(time.Second) {
		for i := 0; i < n; i++ {
			batch = append(batch, store.Sample{Name: "temperature", Labels: labels[i], T: t.UnixMilli(), V: 20 + float64(i%7)})
		}
		if err := db.Append(context.Background(), batch); err != nil {
			return 0, err
		}
		batch = batch[:0]
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: 2 * time.Minute, LookbackDelta: 5 * time.Minute})
	var times []time.Duration
	for run := 0; run < 6; run++ {
		q, err := engine.NewRangeQuery(context.Background(), db, nil, "temperature", start, end, 15*time.Second)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		res := q.Exec(context.Background())
		d := time.Since(t0)
		if res.Err != nil {
			return 0, res.Err
		}
		m, err := res.Matrix()
		if err != nil || len(m) != n {
			return 0, fmt.Errorf("range query returned %d series (%v), want %d", len(m), err, n)
		}
		q.Close()
		if run > 0 {
			times = append(times, d)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], nil
}
