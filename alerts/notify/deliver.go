package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"citywatch/internal/safehttp"
)

// job is one claimed delivery row.
type job struct {
	id         int64
	key        string
	change     []byte
	attempts   int // before this attempt
	retrySince time.Time
	receiver   string
}

type resultKind int

const (
	resDelivered resultKind = iota
	resRetry                // failed, try again at next (or fail if past RetryFor)
	resDead                 // permanent failure
	resFailed               // retried for RetryFor without success
	resRelease              // not attempted (circuit open, paused, shutting down): back to pending at next
)

type result struct {
	job        job
	kind       resultKind
	statusCode int
	err        string
	next       time.Time
	at         time.Time
}

// breaker states
const (
	breakerClosed = iota
	breakerOpen
	breakerHalfOpen
)

// receiverState is a receiver's runtime: its HTTP client, worker queue, circuit breaker and pause.
type receiverState struct {
	cr       *compiledReceiver
	client   *http.Client
	jobs     chan job
	capacity int // rows claimed at once (in flight + queued)
	inflight int // owned by the run loop

	mu          sync.Mutex
	failures    int
	state       int
	openUntil   time.Time
	probing     bool
	pausedUntil time.Time
	lastErr     string
}

func newReceiverState(cr *compiledReceiver) *receiverState {
	capacity := cr.MaxConcurrency * 4
	rs := &receiverState{cr: cr, capacity: capacity, jobs: make(chan job, capacity)}
	if cr.Format != FormatMQTT {
		rs.client = newHTTPClient(guard{allowPrivate: cr.AllowPrivate}, cr.MaxConcurrency)
	}
	return rs
}

// claimable is how many rows the run loop may claim now.
func (rs *receiverState) claimable(now time.Time) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if now.Before(rs.pausedUntil) {
		return 0
	}
	switch rs.state {
	case breakerOpen:
		if now.Before(rs.openUntil) {
			return 0
		}
		if rs.inflight == 0 {
			return 1 // half-open probe
		}
		return 0
	case breakerHalfOpen:
		return 0
	}
	return rs.capacity - rs.inflight
}

// admit decides whether a worker may send now; otherwise it returns when to try again.
func (rs *receiverState) admit(now time.Time) (bool, time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if now.Before(rs.pausedUntil) {
		return false, rs.pausedUntil
	}
	switch rs.state {
	case breakerOpen:
		if now.Before(rs.openUntil) {
			return false, rs.openUntil
		}
		rs.state, rs.probing = breakerHalfOpen, true
		return true, time.Time{}
	case breakerHalfOpen:
		return false, now.Add(time.Second)
	}
	return true, time.Time{}
}

// record feeds an attempt's outcome to the breaker; it reports whether the circuit is now open.
func (rs *receiverState) record(ok bool, now time.Time, threshold int, cooldown time.Duration) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if ok {
		rs.failures, rs.state, rs.probing = 0, breakerClosed, false
		return false
	}
	rs.failures++
	if rs.state == breakerHalfOpen || (threshold > 0 && rs.failures >= threshold) {
		rs.state, rs.openUntil, rs.probing = breakerOpen, now.Add(cooldown), false
	}
	return rs.state == breakerOpen
}

// pause holds all deliveries to the receiver until t (Retry-After).
func (rs *receiverState) pause(t time.Time) {
	rs.mu.Lock()
	if t.After(rs.pausedUntil) {
		rs.pausedUntil = t
	}
	rs.mu.Unlock()
}

func (rs *receiverState) circuitOpen() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.state != breakerClosed
}

func (o *Outbox) worker(ctx context.Context, rs *receiverState) {
	defer o.workers.Done()
	for j := range rs.jobs {
		if ctx.Err() != nil {
			continue // Close puts unattempted rows back to pending
		}
		o.results <- o.attempt(ctx, rs, j)
	}
}

// attempt makes one delivery attempt and classifies its outcome.
func (o *Outbox) attempt(ctx context.Context, rs *receiverState, j job) result {
	cfg := o.cc.cfg
	now := o.clock.Now()
	if ok, next := rs.admit(now); !ok {
		return result{job: j, kind: resRelease, next: next, at: now}
	}
	var c storedChange
	if err := json.Unmarshal(j.change, &c); err != nil {
		return o.finish(rs, j, result{job: j, kind: resDead, err: "stored change is not valid JSON: " + err.Error()}, "render_error", now)
	}
	p := buildPayload(j.key, rs.cr.Name, cfg.ExternalURL, c)
	body, ctype, err := render(rs.cr, p, c, cfg.ExternalURL)
	if err != nil {
		return o.finish(rs, j, result{job: j, kind: resDead, err: err.Error()}, "render_error", now)
	}
	start := time.Now()
	var res result
	var outcome string
	if rs.cr.Format == FormatMQTT {
		res, outcome = o.publishMQTT(c, body, j)
	} else {
		res, outcome = o.post(ctx, rs, j, body, ctype, now)
	}
	o.m.duration.WithLabelValues(rs.cr.Name).Observe(time.Since(start).Seconds())
	if ctx.Err() != nil && res.kind != resDelivered {
		return result{job: j, kind: resRelease, next: now, at: now} // shutting down: not the receiver's fault
	}
	return o.finish(rs, j, res, outcome, o.clock.Now())
}

func (o *Outbox) publishMQTT(c storedChange, body []byte, j job) (result, string) {
	if err := o.mqtt.publish(c, body); err != nil {
		return result{job: j, kind: resRetry, err: "mqtt publish: " + err.Error()}, "network"
	}
	return result{job: j, kind: resDelivered}, "success"
}

// post sends the webhook and classifies the response.
func (o *Outbox) post(ctx context.Context, rs *receiverState, j job, body []byte, ctype string, now time.Time) (result, string) {
	actx, cancel := context.WithTimeout(ctx, rs.cr.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, rs.cr.target.String(), bytes.NewReader(body))
	if err != nil {
		return result{job: j, kind: resDead, err: "build request failed"}, "render_error"
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "citywatch-notify/1")
	for k, v := range rs.cr.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set(HeaderWebhookID, j.key)
	if len(rs.cr.keys) > 0 {
		ts := now.Unix()
		req.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderWebhookSignature, sign(rs.cr.keys, j.key, ts, body))
	}
	resp, err := rs.client.Do(req)
	if err != nil {
		msg := o.redact(rs, transportError(err))
		switch {
		case errors.Is(err, ErrBlockedDestination):
			return result{job: j, kind: resDead, err: msg}, "blocked"
		case errors.Is(err, safehttp.ErrRedirectRefused):
			return result{job: j, kind: resDead, err: msg}, "redirect"
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			return result{job: j, kind: resRetry, err: fmt.Sprintf("timed out after %s: %s", rs.cr.Timeout, msg)}, "timeout"
		}
		return result{job: j, kind: resRetry, err: msg}, "network"
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	code := resp.StatusCode
	r := result{job: j, statusCode: code}
	if code >= 200 && code < 300 {
		r.kind = resDelivered
		return r, "success"
	}
	r.err = fmt.Sprintf("HTTP %d: %s", code, o.redact(rs, printable(snippet, 256)))
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		r.kind = resRetry
		ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), o.clock.Now())
		if !ok && rs.cr.Format == FormatTelegram {
			ra, ok = telegramRetryAfter(snippet)
		}
		if ok {
			ra = min(ra, o.cc.cfg.MaxRetryAfter)
			r.next = o.clock.Now().Add(ra)
			rs.pause(r.next)
		}
		if code == http.StatusTooManyRequests {
			return r, "rate_limited"
		}
		return r, "http_5xx"
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly:
		r.kind = resRetry
		return r, "http_4xx_retry"
	case code >= 300 && code < 500:
		r.kind = resDead
		return r, "http_4xx"
	}
	r.kind = resRetry
	return r, "http_5xx"
}

// finish updates breaker, metrics and logs, and fills in the retry time.
func (o *Outbox) finish(rs *receiverState, j job, r result, outcome string, now time.Time) result {
	cfg := o.cc.cfg
	name := rs.cr.Name
	r.job, r.at = j, now
	o.m.attempts.WithLabelValues(name, outcome).Inc()
	// Only failures that say the receiver is unhealthy count towards its breaker; a 4xx or 429 means it is up.
	switch outcome {
	case "success", "http_4xx", "rate_limited", "render_error", "blocked", "redirect":
		if rs.record(true, now, cfg.BreakerThreshold, cfg.BreakerCooldown) {
			o.m.circuitOpen.WithLabelValues(name).Set(1)
		} else {
			o.m.circuitOpen.WithLabelValues(name).Set(0)
		}
	default:
		wasOpen := rs.circuitOpen()
		if rs.record(false, now, cfg.BreakerThreshold, cfg.BreakerCooldown) {
			o.m.circuitOpen.WithLabelValues(name).Set(1)
			if !wasOpen {
				o.log.Warn("circuit opened: pausing deliveries to receiver", "receiver", name, "cooldown", cfg.BreakerCooldown)
			}
		}
	}
	if r.kind == resRetry && r.next.IsZero() {
		r.next = now.Add(o.backoff(j.attempts + 1))
	}
	if r.kind == resRetry && now.Sub(j.retrySince) >= cfg.RetryFor {
		r.kind = resFailed
		r.err = "gave up after retrying for " + cfg.RetryFor.String() + ": " + r.err
	}
	o.logOutcome(rs, r)
	return r
}

// backoff is exponential from MinBackoff, capped at MaxBackoff, with equal jitter (half fixed, half random)
// so many rows failing together do not retry in lockstep.
func (o *Outbox) backoff(attempt int) time.Duration {
	cfg := o.cc.cfg
	d := cfg.MinBackoff
	for i := 1; i < attempt && d < cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, cfg.MaxBackoff)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// logOutcome logs failures only when a receiver's error changes, and its recovery.
func (o *Outbox) logOutcome(rs *receiverState, r result) {
	rs.mu.Lock()
	prev := rs.lastErr
	if r.kind == resDelivered {
		rs.lastErr = ""
	} else {
		rs.lastErr = r.err
	}
	rs.mu.Unlock()
	switch {
	case r.kind == resDelivered && prev != "":
		o.log.Info("receiver recovered", "receiver", rs.cr.Name)
	case r.kind == resFailed:
		o.log.Error("delivery failed, giving up (replay to retry)", "receiver", rs.cr.Name, "delivery", r.job.id, "status", r.statusCode, "err", r.err)
	case r.kind == resDead:
		o.log.Warn("delivery rejected, not retrying", "receiver", rs.cr.Name, "delivery", r.job.id, "status", r.statusCode, "err", r.err)
	case r.kind == resRetry && r.err != prev:
		o.log.Warn("delivery failed, will retry", "receiver", rs.cr.Name, "delivery", r.job.id, "status", r.statusCode, "err", r.err)
	}
}

// transportError strips the URL an *url.Error carries (it may hold a token).
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " <redacted url>: " + ue.Err.Error()
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// redact removes the receiver's URL, path segments, header values and secrets from s, in case an error
// message or a response body echoes them.
func (o *Outbox) redact(rs *receiverState, s string) string {
	var olds []string
	if rs.cr.URL != "" {
		olds = append(olds, rs.cr.URL)
		if u, err := url.Parse(rs.cr.URL); err == nil {
			for _, seg := range strings.Split(u.Path, "/") {
				if len(seg) >= 8 {
					olds = append(olds, seg)
				}
			}
			if u.RawQuery != "" {
				olds = append(olds, u.RawQuery)
			}
			if u.User != nil {
				olds = append(olds, u.User.String())
			}
		}
	}
	olds = append(olds, rs.cr.Secrets...)
	for _, v := range rs.cr.Headers {
		olds = append(olds, v)
	}
	for _, x := range olds {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, "<redacted>")
		}
	}
	return s
}

// printable makes a response body safe to log: invalid UTF-8 and control characters become '.', cut at n.
func printable(b []byte, n int) string {
	s := strings.ToValidUTF8(string(b), ".")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != ' ' {
			return '.'
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n] + "…(truncated)"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// telegramRetryAfter reads the Bot API's {"parameters":{"retry_after":N}} from a 429 response.
func telegramRetryAfter(body []byte) (time.Duration, bool) {
	var v struct {
		Parameters struct {
			RetryAfter int64 `json:"retry_after"`
		} `json:"parameters"`
	}
	if json.Unmarshal(body, &v) != nil || v.Parameters.RetryAfter <= 0 {
		return 0, false
	}
	return time.Duration(min(v.Parameters.RetryAfter, 86400)) * time.Second, true
}
