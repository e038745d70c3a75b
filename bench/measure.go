package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/prometheus/promql"

	"citywatch/ingest"
	"citywatch/store"
	"citywatch/store/tsdb"
)

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// external measures QoS 1 ingest through a real mosquitto: first a bare paho subscriber that only counts, then
// citywatch's external source with the full pipeline, each with a fresh broker and the same publisher.
func external(n int) (baseline, citywatch float64, err error) {
	dir, err := os.MkdirTemp("", "citywatch-bench-ext-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)

	addr, stop, err := mosquitto(dir)
	if err != nil {
		return 0, 0, err
	}
	var count atomic.Int64
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("bench-baseline").SetCleanSession(false).SetOrderMatters(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		stop()
		return 0, 0, fmt.Errorf("baseline connect: %v", tok.Error())
	}
	if tok := c.Subscribe("city/#", 1, func(paho.Client, paho.Message) { count.Add(1) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		stop()
		return 0, 0, fmt.Errorf("baseline subscribe: %v", tok.Error())
	}
	start := time.Now()
	if err := publishRaw(addr, n, 1, 1); err != nil {
		stop()
		return 0, 0, err
	}
	if err := waitCount(count.Load, int64(n)); err != nil {
		stop()
		return 0, 0, err
	}
	baseline = float64(n) / time.Since(start).Seconds()
	c.Disconnect(0)
	stop()

	addr, stop, err = mosquitto(dir)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	p, db, err := newPipeline(dir + "/tsdb")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	sink := &countingSink{p: p}
	ext, err := ingest.NewExternal(ingest.ExternalConfig{Name: "bench", URL: "tcp://" + addr, ClientID: "bench-collector",
		Topics: []string{"city/#"}, QoS: 1}, sink, ingest.ExternalDeps{Logger: quiet})
	if err != nil {
		return 0, 0, err
	}
	if err := ext.Start(); err != nil {
		return 0, 0, err
	}
	defer ext.Close()
	if err := waitCount(func() int64 {
		if ext.Status().Subscribed {
			return 1
		}
		return 0
	}, 1); err != nil {
		return 0, 0, fmt.Errorf("citywatch source never subscribed")
	}
	start = time.Now()
	if err := publishRaw(addr, n, 1, 1); err != nil {
		return 0, 0, err
	}
	if err := waitCount(sink.n.Load, int64(n)); err != nil {
		return 0, 0, err
	}
	return baseline, float64(n) / time.Since(start).Seconds(), nil
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// memoryPerSeries appends two samples to each of n series and reports the heap growth per series.
func memoryPerSeries(n int) (float64, error) {
	dir, err := os.MkdirTemp("", "citywatch-bench-mem-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	before := heapInuse()
	db, err := tsdb.Open(tsdb.Config{Dir: dir}, tsdb.Deps{Logger: quiet})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	now := time.Now().UnixMilli()
	batch := make([]store.Sample, 0, 1000)
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			dev := strconv.Itoa(i)
			batch = append(batch, store.Sample{Name: "temperature", Labels: []store.Label{
				{Name: "device", Value: "dev" + dev}, {Name: "district", Value: "d" + strconv.Itoa(i%10)}, {Name: "site", Value: "site" + strconv.Itoa(i%100)},
			}, T: now + int64(round)*1000, V: float64(i)})
			if len(batch) == cap(batch) {
				if err := db.Append(context.Background(), batch); err != nil {
					return 0, err
				}
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		if err := db.Append(context.Background(), batch); err != nil {
			return 0, err
		}
	}
	if got := db.HeadSeries(); got != uint64(n) {
		return 0, fmt.Errorf("head has %d series, want %d", got, n)
	}
	return float64(heapInuse()-before) / float64(n), nil
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
