package influx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"citywatch/internal/safehttp"
	"citywatch/store/diskqueue"
	"citywatch/store/forward"
)

// lineWriter writes line protocol in one request; writeAPI implements it, and so does the client's blocking
// write API.
type lineWriter interface {
	WriteRecord(ctx context.Context, line ...string) error
}

// maxBatchBytes bounds the line protocol of one request besides BatchSize.
const maxBatchBytes = 16 << 20

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

// api returns the write API for a timestamp precision (records keep the precision they were queued with).
func (w *Writer) api(prec byte) lineWriter {
	if a, ok := w.apis[prec]; ok {
		return a
	}
	c := w.client
	if prec != w.prec {
		c = newClient(w.cfg, prec)
		w.extraClients = append(w.extraClients, c)
	}
	a := newWriteAPI(c.HTTPService(), w.cfg, prec)
	w.apis[prec] = a
	return a
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
			w.f.Succeeded(countLines(lines))
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
			w.f.Succeeded(0)
			attempt = 0
			continue
		case c == http.StatusRequestEntityTooLarge && countLines(lines) > 1:
			return w.bisect(ctx, prec, splitLines(lines), depth)
		}
		delay := w.failed(herr, attempt)
		attempt++
		if err := w.f.Sleep(ctx, delay); err != nil {
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
	if err := w.dl.write(w.f.Now(), status, msg, refused); err != nil {
		w.log.Error("dead-letter write failed; refused lines are lost", "lines", len(refused), "err", err)
	}
	w.f.CountDeadLettered(len(refused))
	w.log.Warn("InfluxDB refused lines; moved to dead-letter file", "lines", len(refused), "status", status,
		"message", oneLine(msg), "file", w.dl.path)
	return keep
}

// failed records a retryable failure and returns the delay before the next attempt.
func (w *Writer) failed(herr *ihttp.Error, attempt int) time.Duration {
	x := forward.Failure{State: StateUnreachable, Reason: "network", Message: errorText(herr)}
	switch c := herr.StatusCode; {
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		x.State, x.Reason = StateUnauthorized, "unauthorized"
	case c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable:
		x.Reason = "throttled"
		x.RetryAfter, x.HasRetryAfter = retryAfter(herr, w.f.Now())
	case c >= 500:
		x.Reason = "server"
	case c != 0:
		x.State, x.Reason = StateFailing, "other"
	}
	return w.f.Failed(x, attempt)
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

// retryAfter is the Retry-After of a 429/503: the seconds the client parsed, else the header (seconds or an
// HTTP date).
func retryAfter(herr *ihttp.Error, now time.Time) (time.Duration, bool) {
	if herr.RetryAfter > 0 {
		return forward.RetryAfterSeconds(uint64(herr.RetryAfter)), true
	}
	if herr.Header == nil {
		return 0, false
	}
	return forward.ParseRetryAfter(herr.Header.Get("Retry-After"), now)
}
