package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"citywatch/store"
	"citywatch/store/forward"
)

// queueWriter is a durable forwarder under measurement (store/influx or store/remotewrite).
type queueWriter struct {
	store.Appender
	start, close func() error
	// status returns the samples sent and queued since New, and the state and last error.
	status func() (sent, queued int64, detail string)
}

// openQueueWriter is a queueWriter for w, a store/influx or store/remotewrite Writer, or New's err. figures
// picks the samples sent and queued, the state and the last error out of w's Status.
func openQueueWriter[W interface {
	store.Appender
	Start() error
	Close() error
	Status() S
}, S any](w W, err error, figures func(S) (sent, queued int64, state forward.State, lastErr string)) (queueWriter, error) {
	if err != nil {
		return queueWriter{}, err
	}
	return queueWriter{Appender: w, start: w.Start, close: w.Close, status: func() (int64, int64, string) {
		sent, queued, state, lastErr := figures(w.Status())
		return sent, queued, fmt.Sprintf("state %s: %s", state, lastErr)
	}}, nil
}

// queueResult is what measureQueue measures.
type queueResult struct {
	queued              float64 // samples/s
	drain               float64 // samples/s
	backlog             int
	outage              time.Duration
	bytesPerSample      float64
	drainSeconds, ratio float64
}

// measureQueue measures samples/s through a forwarder (Append into the queue while the sender drains it),
// the drain rate of a backlog of 5,000 samples/s × outage, and queue bytes per sample. newWriter opens a
// writer with its queue in dir; the samples are named prefix+"queue" and prefix+"backlog".
func measureQueue(name, prefix string, newWriter func(dir string) (queueWriter, error), batch, batches int,
	outage time.Duration, t0 int64) (queueResult, error) {
	var res queueResult
	qdir, err := os.MkdirTemp("", "citywatch-bench-queue-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(qdir)

	w, err := newWriter(filepath.Join(qdir, "live"))
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := w.start(); err != nil {
		return res, err
	}
	for k := 0; k < batches; k++ {
		if err := w.Append(context.Background(), benchSamples(prefix+"queue", k, batch, t0)); err != nil {
			return res, err
		}
	}
	if err := waitSent(name, w, int64(batches*batch)); err != nil {
		return res, err
	}
	res.queued = float64(batches*batch) / time.Since(start).Seconds()
	if err := w.close(); err != nil {
		return res, err
	}

	// Outage: the backlog piles up in the queue while nothing sends, then the sender starts.
	res.outage = outage
	res.backlog = int(outage.Seconds()) * 5000
	w, err = newWriter(filepath.Join(qdir, "outage"))
	if err != nil {
		return res, err
	}
	defer w.close()
	for k := 0; k < res.backlog/batch; k++ {
		if err := w.Append(context.Background(), benchSamples(prefix+"backlog", k, batch, t0)); err != nil {
			return res, err
		}
	}
	if _, queued, _ := w.status(); queued != int64(res.backlog) {
		return res, fmt.Errorf("queue holds %d samples, want %d", queued, res.backlog)
	}
	du, err := dirBytes(filepath.Join(qdir, "outage"))
	if err != nil {
		return res, err
	}
	res.bytesPerSample = float64(du) / float64(res.backlog)
	start = time.Now()
	if err := w.start(); err != nil {
		return res, err
	}
	if err := waitSent(name, w, int64(res.backlog)); err != nil {
		return res, err
	}
	res.drainSeconds = time.Since(start).Seconds()
	res.drain = float64(res.backlog) / res.drainSeconds
	res.ratio = outage.Seconds() / res.drainSeconds
	return res, nil
}

func waitSent(name string, w queueWriter, n int64) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		sent, _, detail := w.status()
		if sent >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s sent %d of %d in 5 minutes (%s)", name, sent, n, detail)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// benchSamples makes batch k of a benchmark: size samples over 1,000 devices of 10 districts, distinct
// timestamps.
func benchSamples(name string, k, size int, t0 int64) []store.Sample {
	out := make([]store.Sample, size)
	for i := range out {
		j := k*size + i
		out[i] = store.Sample{Name: name, Labels: []store.Label{{Name: "device", Value: "dev" + strconv.Itoa(j%1000)},
			{Name: "district", Value: "d" + strconv.Itoa(j%10)}},
			T: t0 + int64(j/1000), V: 20 + float64(j%100)/10}
	}
	return out
}

// dirBytes is the apparent size of the files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n, err
}
