package influx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"citywatch/internal/safehttp"
	"citywatch/store/diskqueue"
)

// lineWriter writes line protocol; the client's blocking write API implements it.
type lineWriter interface {
	WriteRecord(ctx context.Context, line ...string) error
}

// maxBatchBytes bounds the line protocol of one request besides BatchSize.
const maxBatchBytes = 16 << 20

// maxRetryAfter caps a server's Retry-After.
const maxRetryAfter = time.Hour

func newClient(cfg Config, prec byte) influxdb2.Client {
	opts := influxdb2.DefaultOptions().
		SetUseGZip(cfg.Gzip).
		// The token rides in Authorization, which Go keeps on a redirect to another port or from https to http
		// of the same host: follow no redirect that leaves the configured origin.
		SetHTTPClient(&http.Client{Timeout: cfg.Timeout, CheckRedirect: safehttp.CheckRedirect(3)}).
		SetApplicationName("citywatch").
		SetPrecision(lineprotocol.Precision(prec).Duration())
	return influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
}

// api returns the blocking write API for a timestamp precision (records keep the precision they were
// queued with).
func (w *Writer) api(prec byte) lineWriter {
	if a, ok := w.apis[prec]; ok {
		return a
	}
	c := w.client
	if prec != w.prec {
		c = newClient(w.cfg, prec)
		w.extraClients = append(w.extraClients, c)
	}
	a := c.WriteAPIBlocking(w.cfg.Org, w.cfg.Bucket)
	w.apis[prec] = a
	return a
}

// run sends queued batches in order until ctx is cancelled.
func (w *Writer) run(ctx context.Context) {
	for {
		b, err := w.q.Read(ctx, w.cfg.BatchSize, maxBatchBytes, w.cfg.FlushInterval)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, diskqueue.ErrClosed) {
				return
			}
			// A disk problem: keep trying rather than stall for good.
			w.log.Error("queue read failed; retrying", "err", err)
			if sleep(ctx, w.cfg.RetryMax) != nil {
				return
			}
			continue
		}
		start, err := w.pace(ctx, b)
		if err != nil {
			return
		}
		if err := w.deliver(ctx, b); err != nil {
			return // cancelled: the batch stays queued
		}
		if !start.IsZero() {
			// Credit does not accumulate while a batch is retried through an outage.
			w.nextReplay = start.Add(time.Duration(float64(b.Items) / w.cfg.ReplayRate * float64(time.Second)))
			if now := w.now(); now.After(w.nextReplay) {
				w.nextReplay = now
			}
		}
		for err := w.q.Ack(b); err != nil; err = w.q.Ack(b) {
			if errors.Is(err, diskqueue.ErrClosed) {
				return // not acknowledged: sent again after a restart, which InfluxDB absorbs
			}
			w.log.Error("queue ack failed; retrying", "err", err)
			if sleep(ctx, w.cfg.RetryMax) != nil {
				return
			}
		}
	}
}

// pace applies ReplayRate while the queue holds a backlog: it waits until the batch's scheduled start and
// returns that start, or the zero time when the batch is not paced.
func (w *Writer) pace(ctx context.Context, b *diskqueue.Batch) (time.Time, error) {
	if w.cfg.ReplayRate <= 0 || !b.Backlog {
		w.nextReplay = time.Time{}
		return time.Time{}, nil
	}
	now := w.now()
	start := w.nextReplay
	if start.Before(now) {
		start = now
	}
	return start, sleep(ctx, start.Sub(now))
}

// deliver writes every record of b, split into runs of the same precision. It returns only nil or ctx's
// error.
func (w *Writer) deliver(ctx context.Context, b *diskqueue.Batch) error {
	for i := 0; i < len(b.Records); {
		prec := b.Records[i][0]
		// One string per record: the client joins them with newlines. They are split into lines only when
		// the server refuses some.
		var chunks []string
		for ; i < len(b.Records) && b.Records[i][0] == prec; i++ {
			if c := strings.TrimSuffix(string(b.Records[i][1:]), "\n"); c != "" {
				chunks = append(chunks, c)
			}
		}
		if err := w.send(ctx, prec, chunks, 0); err != nil {
			return err
		}
	}
	return nil
}

// splitLines splits chunks of newline-separated lines into single lines.
func splitLines(chunks []string) []string {
	n := 0
	for _, c := range chunks {
		n += strings.Count(c, "\n") + 1
	}
	if n == len(chunks) {
		return chunks
	}
	lines := make([]string, 0, n)
	for _, c := range chunks {
		lines = append(lines, strings.Split(c, "\n")...)
	}
	return lines
}

func countLines(chunks []string) int {
	n := 0
	for _, c := range chunks {
		n += strings.Count(c, "\n") + 1
	}
	return n
}

// send writes lines (or chunks of lines), retrying until they are written or dead-lettered. It returns only
// nil or ctx's error.
func (w *Writer) send(ctx context.Context, prec byte, lines []string, depth int) error {
	attempt := 0
	for len(lines) > 0 {
		err := w.api(prec).WriteRecord(ctx, lines...)
		if err == nil {
			w.succeeded(countLines(lines))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var herr *ihttp.Error
		if !errors.As(err, &herr) {
			herr = &ihttp.Error{Err: err}
		}
		switch c := herr.StatusCode; {
		case c == http.StatusBadRequest || c == http.StatusUnprocessableEntity:
			lines = splitLines(lines)
			bad := badLines(lines, herr.Message)
			if len(bad) == 0 && len(lines) > 1 {
				return w.bisect(ctx, prec, lines, depth)
			}
			if len(bad) == 0 {
				bad = []int{0}
			}
			lines = w.deadLetterLines(c, herr.Message, lines, bad)
			w.succeeded(0)
			attempt = 0
			continue
		case c == http.StatusRequestEntityTooLarge && countLines(lines) > 1:
			return w.bisect(ctx, prec, splitLines(lines), depth)
		}
		delay := w.failed(herr, attempt)
		attempt++
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
	return nil
}

// bisect sends the halves of lines separately, to isolate refused lines the server did not name.
func (w *Writer) bisect(ctx context.Context, prec byte, lines []string, depth int) error {
	mid := len(lines) / 2
	if err := w.send(ctx, prec, lines[:mid], depth+1); err != nil {
		return err
	}
	return w.send(ctx, prec, lines[mid:], depth+1)
}

// deadLetterLines writes the lines at indexes bad to the dead-letter file and returns the others.
func (w *Writer) deadLetterLines(status int, msg string, lines []string, bad []int) []string {
	refused := make([]string, 0, len(bad))
	keep := make([]string, 0, len(lines)-len(bad))
	j := 0
	for i, l := range lines {
		if j < len(bad) && bad[j] == i {
			refused = append(refused, l)
			j++
			continue
		}
		keep = append(keep, l)
	}
	if err := w.dl.write(w.now(), status, msg, refused); err != nil {
		w.log.Error("dead-letter write failed; refused lines are lost", "lines", len(refused), "err", err)
	}
	w.deadLettered.Add(int64(len(refused)))
	w.m.deadLettered.Add(float64(len(refused)))
	w.log.Warn("InfluxDB refused lines; moved to dead-letter file", "lines", len(refused), "status", status,
		"message", oneLine(msg), "file", w.dl.path)
	return keep
}

func (w *Writer) succeeded(n int) {
	w.sent.Add(int64(n))
	w.m.sent.Add(float64(n))
	w.m.up.Set(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != StateOK && w.state != StateStarting && !w.closed {
		w.log.Info("InfluxDB writes recovered", "previous_state", string(w.state))
	}
	if !w.closed {
		w.state = StateOK
	}
	w.lastErr = ""
	w.lastSuccess = w.now()
}

// failed records a retryable failure and returns the delay before the next attempt.
func (w *Writer) failed(herr *ihttp.Error, attempt int) time.Duration {
	state, reason := StateUnreachable, "network"
	delay := backoff(w.cfg.RetryInitial, w.cfg.RetryMax, attempt)
	switch c := herr.StatusCode; {
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		state, reason = StateUnauthorized, "unauthorized"
	case c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable:
		reason = "throttled"
		if ra, ok := retryAfter(herr, w.now()); ok {
			delay = ra
		}
	case c >= 500:
		reason = "server"
	case c != 0:
		state, reason = StateFailing, "other"
	}
	msg := errorText(herr)
	w.m.retries.WithLabelValues(reason).Inc()
	w.m.up.Set(0)
	w.mu.Lock()
	changed := w.state != state || w.lastErr != msg
	if !w.closed {
		w.state = state
	}
	w.lastErr, w.lastErrTime = msg, w.now()
	w.mu.Unlock()
	if changed {
		w.log.Warn("InfluxDB write failed; data kept, retrying", "state", string(state), "err", msg, "retry_in", delay)
	}
	return delay
}

// errorText describes a write error without secrets: the client error carries status and server message,
// or the transport error (whose URL has no credentials: Config forbids them).
func errorText(herr *ihttp.Error) string {
	if herr.StatusCode == 0 {
		if herr.Err != nil {
			return herr.Err.Error()
		}
		return "unknown error"
	}
	msg := herr.Message
	if msg == "" && herr.Err != nil {
		msg = herr.Err.Error()
	}
	return fmt.Sprintf("HTTP %d: %s", herr.StatusCode, oneLine(msg))
}

// retryAfter parses the Retry-After of a 429/503 (seconds or an HTTP date).
func retryAfter(herr *ihttp.Error, now time.Time) (time.Duration, bool) {
	// Seconds are compared before they are multiplied: a huge Retry-After would overflow to a negative delay,
	// that is a retry loop without pause.
	maxSeconds := int64(maxRetryAfter / time.Second)
	if herr.RetryAfter > 0 {
		return time.Duration(min(uint64(herr.RetryAfter), uint64(maxSeconds))) * time.Second, true
	}
	v := ""
	if herr.Header != nil {
		v = herr.Header.Get("Retry-After")
	}
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, maxSeconds)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

// backoff returns the delay before retry attempt+1: exponential from initial, capped at maxDelay, with
// jitter in [d/2, d] so that many edges do not retry in lockstep.
func backoff(initial, maxDelay time.Duration, attempt int) time.Duration {
	d := initial
	for i := 0; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
