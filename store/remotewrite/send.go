package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"citywatch/store/diskqueue"
	"citywatch/store/forward"
)

// maxBatchBytes bounds the uncompressed records of one request besides BatchSize.
const maxBatchBytes = 16 << 20

// maxSplits bounds how finely a refused batch is split to find the refused series: at most 2*maxSplits-1
// requests per refused batch; chunks still refused at that size are dead-lettered whole.
const maxSplits = 64

// action is what the sender does after a response.
type action int

const (
	actDone       action = iota // accepted
	actRetry                    // keep the data, back off, send again
	actSplit                    // too large: send the halves
	actDeadLetter               // refused for good: isolate the refused series, dead-letter them
	actDowngrade                // 2.0 not supported: send 1.0 from now on
)

// outcome classifies one write response.
type outcome struct {
	act    action
	state  State
	reason string // retry reason, for citywatch_remote_write_retries_total
}

// classify decides what to do after a response with HTTP status (0: no response, a network error). It is
// the policy of the package doc, as a pure function.
func classify(status int, v2 bool) outcome {
	switch {
	case status >= 200 && status < 300:
		return outcome{act: actDone, state: StateOK}
	case status == 0:
		return outcome{act: actRetry, state: StateUnreachable, reason: "network"}
	case status == http.StatusTooManyRequests:
		return outcome{act: actRetry, state: StateUnreachable, reason: "throttled"}
	case status >= 500:
		return outcome{act: actRetry, state: StateUnreachable, reason: "server"}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return outcome{act: actRetry, state: StateUnauthorized, reason: "unauthorized"}
	case status == http.StatusRequestTimeout:
		return outcome{act: actRetry, state: StateUnreachable, reason: "network"}
	case status == http.StatusRequestEntityTooLarge:
		return outcome{act: actSplit, state: StateOK}
	case status == http.StatusUnsupportedMediaType && v2:
		return outcome{act: actDowngrade, state: StateOK}
	case status < 400, status == http.StatusNotFound, status == http.StatusMethodNotAllowed,
		status == http.StatusUnsupportedMediaType:
		// A redirect not followed, a wrong path, not a remote-write receiver: the configuration is wrong, not
		// the data. Keep it until the operator fixes the URL.
		return outcome{act: actRetry, state: StateFailing, reason: "other"}
	default:
		return outcome{act: actDeadLetter, state: StateOK}
	}
}

// pending is one request's data: the serialized 1.0 request (or, for a batch of one record, its snappy block
// as queued, sent as it is), decoded only when needed (2.0, splitting, dead-lettering).
type pending struct {
	snappy  []byte
	raw     []byte
	req     *prompb.WriteRequest
	samples int
}

func (p *pending) decoded() (*prompb.WriteRequest, error) {
	if p.req == nil && p.raw == nil && p.snappy != nil {
		raw, err := snappy.Decode(nil, p.snappy)
		if err != nil {
			return nil, fmt.Errorf("remotewrite: decode queued request: %w", err)
		}
		p.raw = raw
	}
	if p.req == nil {
		p.req = &prompb.WriteRequest{}
		if err := p.req.Unmarshal(p.raw); err != nil {
			return nil, fmt.Errorf("remotewrite: decode queued request: %w", err)
		}
	}
	return p.req, nil
}

// deliver writes every record of b. It returns only nil or ctx's error.
func (w *Writer) deliver(ctx context.Context, b *diskqueue.Batch) error {
	v1 := w.protocol.Load().(string) == MessageV1
	if r := b.Records[0]; v1 && len(b.Records) == 1 && len(r) > 0 && r[0] == recordSnappyV1 {
		// A whole batch in one record (a large Append): its snappy block is the request body already.
		return w.send(ctx, &pending{snappy: r[1:], samples: b.Items}, 0)
	}
	raw, err := decodeRecords(w.raw[:0], b.Records)
	w.raw = raw
	if err != nil {
		// The CRC matched, so a newer citywatch wrote it: nothing here can send it.
		w.log.Error("queued batch not decodable; skipped", "samples", b.Items, "err", err)
		return nil
	}
	p := &pending{raw: raw, samples: b.Items}
	if v1 {
		return w.send(ctx, p, 0)
	}
	req, err := p.decoded()
	if err != nil {
		w.log.Error("queued batch not decodable; skipped", "samples", b.Items, "err", err)
		return nil
	}
	return w.send(ctx, p, (len(req.Timeseries)+maxSplits-1)/maxSplits)
}

// body encodes p for the wire in the current protocol.
func (w *Writer) body(p *pending) ([]byte, error) {
	v2 := w.protocol.Load().(string) == MessageV2
	if !v2 && p.snappy != nil {
		return p.snappy, nil
	}
	raw := p.raw
	if v2 {
		req, err := p.decoded()
		if err != nil {
			return nil, err
		}
		if raw, err = toV2(req).Marshal(); err != nil {
			return nil, fmt.Errorf("remotewrite: marshal 2.0: %w", err)
		}
	} else if raw == nil {
		var err error
		if raw, err = marshalV1(nil, p.req); err != nil {
			return nil, err
		}
	}
	// A fresh buffer per request: the HTTP transport may still read a body after the response arrived
	// (http.RoundTripper), so a body is never reused.
	return snappy.Encode(nil, raw), nil
}

// send writes p, retrying until it is written or dead-lettered. minChunk is the fewest series a refused
// request is split into before its series are dead-lettered (0: not computed yet). It returns only nil or
// ctx's error.
func (w *Writer) send(ctx context.Context, p *pending, minChunk int) error {
	attempt := 0
	for {
		body, err := w.body(p)
		if err != nil {
			w.log.Error("queued batch not encodable; skipped", "samples", p.samples, "err", err)
			return nil
		}
		x := &exchange{}
		start := time.Now()
		rs, err := w.client.Store(context.WithValue(ctx, exchangeKey{}, x), body, attempt)
		w.m.duration.Observe(time.Since(start).Seconds())
		proto := w.protocol.Load().(string)
		if err == nil && proto == MessageV2 && !rs.Confirmed {
			// A 2.0 receiver confirms what it wrote in X-Prometheus-Remote-Write-*-Written. A 1.0 receiver (such
			// as VictoriaMetrics) answers 204 to a 2.0 body it read as an empty 1.0 request: send it again as 1.0.
			w.downgrade(errors.New("2xx without X-Prometheus-Remote-Write-Samples-Written: not a remote write 2.0 receiver"))
			attempt = 0
			continue
		}
		if err == nil {
			if proto == MessageV2 && rs.Samples < p.samples {
				w.log.Warn("receiver wrote fewer samples than sent", "sent", p.samples, "written", rs.Samples)
			}
			w.succeeded(p.samples, len(body))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o := classify(x.status, proto == MessageV2)
		switch o.act {
		case actDowngrade:
			w.downgrade(err)
			attempt = 0
			continue
		case actSplit, actDeadLetter:
			return w.refused(ctx, p, o.act, minChunk, x.status, err)
		}
		delay := w.failed(o, x, err, attempt)
		attempt++
		if err := w.f.Sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// refused handles a request the receiver refused for what it holds: split it and send the halves while it
// has more than minChunk series (413: more than one), dead-letter it otherwise.
func (w *Writer) refused(ctx context.Context, p *pending, act action, minChunk, status int, cause error) error {
	req, err := p.decoded()
	if err != nil {
		w.log.Error("refused batch not decodable; dropped", "samples", p.samples, "err", err)
		w.f.CountDeadLettered(p.samples)
		return nil
	}
	if minChunk == 0 {
		minChunk = (len(req.Timeseries) + maxSplits - 1) / maxSplits
	}
	if act == actSplit {
		minChunk = 1
	}
	if n := len(req.Timeseries); n > max(minChunk, 1) {
		mid := n / 2
		for _, half := range [][]prompb.TimeSeries{req.Timeseries[:mid], req.Timeseries[mid:]} {
			hp := &pending{req: &prompb.WriteRequest{Timeseries: half}, samples: countPoints(half)}
			if err := w.send(ctx, hp, minChunk); err != nil {
				return err
			}
		}
		return nil
	}
	lines := exposition(req)
	if err := w.dl.Write(w.f.Now(), status, cause.Error(), lines); err != nil {
		w.log.Error("dead-letter write failed; refused samples are lost", "samples", len(lines), "err", err)
	}
	w.f.CountDeadLettered(len(lines))
	w.log.Warn("receiver refused samples; moved to dead-letter file", "samples", len(lines), "status", status,
		"message", diskqueue.OneLine(cause.Error()), "file", w.dl.Path())
	w.succeeded(0, 0)
	return nil
}

// downgrade switches to remote write 1.0 after a 415 to a 2.0 request.
func (w *Writer) downgrade(cause error) {
	c, err := newClient(&w.cfg, MessageV1)
	if err != nil {
		// The same configuration built the 2.0 client; this cannot fail differently.
		w.log.Error("building the 1.0 client failed", "err", err)
		return
	}
	w.client = c
	w.protocol.Store(MessageV1)
	w.log.Warn("receiver does not accept remote write 2.0; writing 1.0 (set protobuf_message: "+MessageV1+")",
		"err", diskqueue.OneLine(cause.Error()))
}

func (w *Writer) succeeded(samples, bytes int) {
	w.m.sentBytes.Add(float64(bytes))
	w.f.Succeeded(samples)
}

// failed records a retryable failure and returns the delay before the next attempt: the server's
// Retry-After for 429 and 5xx when it sent one, else exponential backoff.
func (w *Writer) failed(o outcome, x *exchange, cause error, attempt int) time.Duration {
	f := forward.Failure{State: o.state, Reason: o.reason, Message: diskqueue.OneLine(cause.Error())}
	if o.reason == "throttled" || o.reason == "server" {
		f.RetryAfter, f.HasRetryAfter = forward.ParseRetryAfter(x.retryAfter, w.f.Now())
	}
	return w.f.Failed(f, attempt)
}
