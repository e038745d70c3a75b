package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"citywatch/internal/clock"
	"citywatch/internal/safehttp"
)

// Bounds on what is read of a receiver's answer.
const (
	// responseSnippetBytes is read for the error message and for APIs that answer in the body (Telegram's
	// retry_after, Zalo's error); it is redacted before it is cut to errorBodyChars.
	responseSnippetBytes = 4 << 10
	// responseDrainBytes more are read and discarded so the connection can be reused; a longer body closes it.
	responseDrainBytes = 64 << 10
	// errorBodyChars of the answer go into the error message (the delivery log, the logs).
	errorBodyChars = 256
)

// httpSender posts rendered bodies to one receiver over its SSRF-guarded client and classifies the answer,
// the transport every HTTP integration shares (Alertmanager's notify.PostJSON plus notify.Retrier).
type httpSender struct {
	cr      *compiledReceiver
	client  *http.Client
	clock   clock.Clock
	secrets []string // what redact removes from error messages
	// header sets the kind's own headers (Zalo's access_token); nil for none.
	header func(h http.Header)
	// retryAfter reads an API's own retry delay from a 429/503 body without a Retry-After header; nil for none.
	retryAfter func(body []byte) (time.Duration, bool)
	// accept inspects a 2xx answer, for APIs that answer 200 with an error in the body (Zalo); nil accepts.
	accept func(body []byte) (retry bool, err error)
}

func newHTTPSender(cr *compiledReceiver, clk clock.Clock) *httpSender {
	return &httpSender{cr: cr, clock: clk, secrets: receiverSecrets(cr),
		client: newHTTPClient(guard{allowPrivate: cr.AllowPrivate}, cr.MaxConcurrency)}
}

// CloseIdleConnections closes the client's idle connections (the outbox calls it at shutdown).
func (s *httpSender) CloseIdleConnections() { s.client.CloseIdleConnections() }

// send posts body and classifies the response: 2xx delivered (unless accept says otherwise); 429 and 503
// retried after Retry-After; 408, 425, other 5xx, timeouts and network errors retried; other 3xx and 4xx,
// blocked destinations and refused redirects never retried.
func (s *httpSender) send(ctx context.Context, m Message, body []byte, ctype string) (bool, error) {
	cr, key := s.cr, m.Key
	actx, cancel := context.WithTimeout(ctx, cr.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, cr.target.String(), bytes.NewReader(body))
	if err != nil {
		return failure(false, reasonRenderError, 0, "build request failed")
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "citywatch-notify/1")
	for k, v := range cr.Headers {
		req.Header.Set(k, v)
	}
	if s.header != nil {
		s.header(req.Header)
	}
	req.Header.Set(HeaderWebhookID, key)
	if len(cr.keys) > 0 {
		ts := s.clock.Now().Unix()
		req.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderWebhookSignature, sign(cr.keys, key, ts, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		msg := s.redact(transportError(err))
		switch {
		case errors.Is(err, ErrBlockedDestination):
			return failure(false, "blocked", 0, "%s", msg)
		case errors.Is(err, safehttp.ErrRedirectRefused):
			return failure(false, "redirect", 0, "%s", msg)
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			return failure(true, "timeout", 0, "timed out after %s: %s", cr.Timeout, msg)
		}
		return failure(true, "network", 0, "%s", msg)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, responseSnippetBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseDrainBytes)) // let the connection be reused
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		if m.status != nil {
			*m.status = code
		}
		if s.accept != nil {
			return s.accept(snippet)
		}
		return false, nil
	}
	e := &Error{StatusCode: code, Msg: fmt.Sprintf("HTTP %d: %s", code, s.errorBody(snippet))}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		e.Reason = "http_5xx"
		if code == http.StatusTooManyRequests {
			e.Reason = "rate_limited"
		}
		ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), s.clock.Now())
		if !ok && s.retryAfter != nil {
			ra, ok = s.retryAfter(snippet)
		}
		if ok {
			e.RetryAfter = max(ra, time.Millisecond) // "Retry-After: 0" asks for a retry now, not a backoff
		}
		return true, e
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly:
		e.Reason = "http_4xx_retry"
		return true, e
	case code >= 300 && code < 500:
		e.Reason = "http_4xx"
		return false, e
	}
	e.Reason = "http_5xx"
	return true, e
}

// errorBody is the start of a response body, safe to log: secrets the receiver echoes are redacted before it
// is cut, so a cut cannot leave the start of a secret behind.
func (s *httpSender) errorBody(b []byte) string {
	return s.redactTail(printable([]byte(s.redact(string(b))), errorBodyChars))
}

// receiverSecrets are the strings of a receiver that must not appear in an error: its URL and the URL's
// longer path segments, query and its values, and userinfo, its signing secrets, header values and access
// token. Longer ones come first, so a secret that contains another is redacted whole.
func receiverSecrets(cr *compiledReceiver) []string {
	var olds []string
	if cr.URL != "" {
		olds = append(olds, cr.URL)
		if u, err := url.Parse(cr.URL); err == nil {
			for _, seg := range strings.Split(u.Path, "/") {
				if len(seg) >= 8 {
					olds = append(olds, seg)
				}
			}
			if u.RawQuery != "" {
				olds = append(olds, u.RawQuery)
				for _, vs := range u.Query() { // a receiver may echo one parameter's value alone
					olds = append(olds, vs...)
				}
			}
			if u.User != nil {
				olds = append(olds, u.User.String(), u.User.Username())
				if pw, ok := u.User.Password(); ok {
					olds = append(olds, pw)
				}
			}
		}
	}
	olds = append(olds, cr.Secrets...)
	for _, v := range cr.Headers {
		olds = append(olds, v)
	}
	if cr.ZaloAccessToken != "" {
		olds = append(olds, cr.ZaloAccessToken)
	}
	var out []string
	for _, x := range olds {
		if len(x) >= 4 {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// redact removes the receiver's secrets from s, in case an error message or a response body echoes them.
func (s *httpSender) redact(msg string) string {
	for _, x := range s.secrets {
		msg = strings.ReplaceAll(msg, x, "<redacted>")
	}
	return msg
}

// redactTail removes the start of a secret (4 bytes or more) that a cut left at the end of msg, before a
// trailing truncation mark.
func (s *httpSender) redactTail(msg string) string {
	body, mark := msg, ""
	if b, ok := strings.CutSuffix(msg, truncationMark); ok {
		body, mark = b, truncationMark
	}
	for _, x := range s.secrets {
		for k := len(x) - 1; k >= 4; k-- {
			if strings.HasSuffix(body, x[:k]) {
				body = body[:len(body)-k] + "<redacted>"
				break
			}
		}
	}
	return body + mark
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

const truncationMark = "…(truncated)"

// printable makes a response body safe to log: invalid UTF-8 and control characters become '.', cut at n
// bytes on a character boundary.
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
		s = cutUTF8(s, n) + truncationMark
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
