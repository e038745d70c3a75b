// Package notifytest is the test kit every notification integration runs (Alertmanager's notify/test): a
// receiver kind is done when its test calls RunHTTP (or RunPublish) and passes. The kit checks what every
// integration owes the operator whatever its wire format:
//
//   - secrets (URL tokens, header values, signing secrets, access tokens) never appear in an error, which
//     is what the outbox logs and stores in the delivery log, even when the receiver echoes them back;
//   - retry classification: 5xx, 429, 408 and network errors are retried, other 4xx are not, and a
//     Retry-After the receiver sends is reported;
//   - a redirect to another host is refused, and that host receives nothing;
//   - cancelling the context ends a hanging attempt;
//   - what is read of an answer, and (for chat formats) what is sent, is bounded;
//   - Vietnamese text survives, also when it is cut to fit a format's limit.
package notifytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"citywatch/alerts/notify"
)

// VietnameseSummary is the summary of the kit's messages: it must reach the receiver unchanged.
const VietnameseSummary = "Sốt 38,9 °C — Phòng 203"

// waitFor bounds every wait of the kit; it guards against a hang and is never a timing assertion.
const waitFor = 15 * time.Second

// HTTP describes an integration that posts to a URL.
type HTTP struct {
	// New builds the integration under test posting to url, configured with Secrets. url carries secrets of
	// its own in its path and query (as Slack, Teams and Telegram URLs do); the kit checks those too.
	New func(t *testing.T, url string) notify.Notifier
	// Secrets are the other secret values New configures (signing secrets, header values, access tokens).
	Secrets []string
	// OK is the body of an accepting answer ("" for an empty one).
	OK string
	// ErrorBody, for APIs that answer 200 with an error in the body (Zalo), returns such an answer whose
	// message is msg; nil for integrations that read only the status.
	ErrorBody func(msg string) string
	// RetryAfterBody is a 429 body that asks to wait 7 seconds without a Retry-After header (Telegram's
	// parameters.retry_after); "" when the API has none.
	RetryAfterBody string
	// MaxBodyBytes bounds the request body of a message with a 1 MiB description; 0 for formats that carry
	// annotations verbatim (citywatch, alertmanager).
	MaxBodyBytes int
}

// Message returns a firing message whose summary is VietnameseSummary and whose description is description.
func Message(description string) notify.Message {
	c := notify.Change{Fingerprint: "f00dfeedf00dfeed", Name: "SốtCao", State: "firing", Value: 38.9,
		Labels:      map[string]string{"alertname": "SốtCao", "site": "khu-cách-ly-3", "device": "vòng-tay-7"},
		Annotations: map[string]string{"summary": VietnameseSummary, "description": description},
		StartsAt:    time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	if description == "" {
		delete(c.Annotations, "description")
	}
	return notify.NewMessage("cw_notifytest", c)
}

// RunHTTP runs the kit against an HTTP integration.
func RunHTTP(t *testing.T, it HTTP) {
	t.Run("delivers", func(t *testing.T) { testDelivers(t, it) })
	t.Run("retry classification", func(t *testing.T) { testRetryClassification(t, it) })
	t.Run("network errors are retried", func(t *testing.T) { testNetworkError(t, it) })
	t.Run("Retry-After is reported", func(t *testing.T) { testRetryAfter(t, it) })
	t.Run("secrets never in errors", func(t *testing.T) { testSecretsNotInErrors(t, it) })
	t.Run("redirect to another host refused", func(t *testing.T) { testRedirect(t, it) })
	t.Run("context cancellation", func(t *testing.T) { testCancel(t, it) })
	t.Run("answer read is bounded", func(t *testing.T) { testHugeAnswer(t, it) })
	t.Run("Vietnamese survives a cut", func(t *testing.T) { testLongText(t, it) })
}

// server is a receiver under the kit's control.
type server struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []request
	handler func(w http.ResponseWriter, r *http.Request, body []byte)
}

type request struct {
	method string
	url    string
	header http.Header
	body   []byte
}

func newServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, body []byte)) *server {
	s := &server{handler: handler}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			return // the client gave up mid-body
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, request{method: r.Method, url: r.URL.String(), header: r.Header.Clone(), body: body})
		s.mu.Unlock()
		s.handler(w, r, body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// urlSecrets are the secrets the kit puts in the receiver's URL.
const (
	pathSecret  = "PATHSECRETbot123456789:AAEhBP0av28"
	querySecret = "QUERYSECRET0k3n42"
)

func (s *server) url() string { return s.srv.URL + "/" + pathSecret + "/send?token=" + querySecret }

func (it HTTP) allSecrets() []string {
	return append([]string{pathSecret, querySecret}, it.Secrets...)
}

func (it HTTP) ok(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, it.OK)
}

func notify1(t *testing.T, n notify.Notifier, m notify.Message) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return n.Notify(ctx, m)
}

// requireNoSecret fails when s holds any secret, or the first 8 bytes of one.
func requireNoSecret(t *testing.T, secrets []string, s, what string) {
	t.Helper()
	for _, x := range secrets {
		require.NotContains(t, s, x, "%s holds a secret", what)
		if len(x) > 8 {
			require.NotContains(t, s, x[:8], "%s holds the start of a secret", what)
		}
	}
}

func testDelivers(t *testing.T, it HTTP) {
	s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { it.ok(w) })
	retry, err := notify1(t, it.New(t, s.url()), Message(""))
	require.NoError(t, err)
	require.False(t, retry)
	reqs := s.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, http.MethodPost, reqs[0].method)
	require.True(t, utf8.Valid(reqs[0].body), "the body is not valid UTF-8")
	require.Contains(t, string(reqs[0].body), VietnameseSummary, "the Vietnamese summary did not arrive as UTF-8")
}

// RetryCases are the HTTP statuses and whether each is retried.
var RetryCases = []struct {
	Status int
	Retry  bool
}{
	{http.StatusInternalServerError, true}, {http.StatusBadGateway, true}, {http.StatusServiceUnavailable, true},
	{http.StatusGatewayTimeout, true}, {http.StatusTooManyRequests, true}, {http.StatusRequestTimeout, true},
	{http.StatusBadRequest, false}, {http.StatusUnauthorized, false}, {http.StatusForbidden, false},
	{http.StatusNotFound, false}, {http.StatusGone, false}, {http.StatusUnprocessableEntity, false},
}

func testRetryClassification(t *testing.T, it HTTP) {
	for _, tc := range RetryCases {
		t.Run(fmt.Sprint(tc.Status), func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				w.WriteHeader(tc.Status)
				_, _ = io.WriteString(w, `{"error":"nope"}`)
			})
			retry, err := notify1(t, it.New(t, s.url()), Message(""))
			require.Error(t, err)
			require.Equal(t, tc.Retry, retry, "retry for HTTP %d", tc.Status)
			var ne *notify.Error
			require.ErrorAs(t, err, &ne)
			require.Equal(t, tc.Status, ne.StatusCode)
		})
	}
	if it.ErrorBody != nil {
		t.Run("error in a 200 answer", func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				_, _ = io.WriteString(w, it.ErrorBody("rejected"))
			})
			_, err := notify1(t, it.New(t, s.url()), Message(""))
			require.Error(t, err, "an error answered with 200 was taken for a delivery")
			require.Contains(t, err.Error(), "rejected")
		})
		t.Run("unreadable 200 answer", func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				_, _ = io.WriteString(w, "<html>captive portal</html>")
			})
			retry, err := notify1(t, it.New(t, s.url()), Message(""))
			require.Error(t, err)
			require.True(t, retry, "an answer that is not the API's should be retried")
		})
	}
}

func testNetworkError(t *testing.T, it HTTP) {
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		retry, err := notify1(t, it.New(t, "http://"+addr+"/"+pathSecret+"/send?token="+querySecret), Message(""))
		require.Error(t, err)
		require.True(t, retry)
		requireNoSecret(t, it.allSecrets(), err.Error(), "the error")
	})
	t.Run("connection dropped", func(t *testing.T) {
		s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		})
		retry, err := notify1(t, it.New(t, s.url()), Message(""))
		require.Error(t, err)
		require.True(t, retry)
		requireNoSecret(t, it.allSecrets(), err.Error(), "the error")
	})
}

func testRetryAfter(t *testing.T, it HTTP) {
	check := func(t *testing.T, header, body string) {
		s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			if header != "" {
				w.Header().Set("Retry-After", header)
			}
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, body)
		})
		retry, err := notify1(t, it.New(t, s.url()), Message(""))
		require.True(t, retry)
		var ne *notify.Error
		require.ErrorAs(t, err, &ne)
		require.Equal(t, 7*time.Second, ne.RetryAfter)
	}
	t.Run("header", func(t *testing.T) { check(t, "7", "slow down") })
	if it.RetryAfterBody != "" {
		t.Run("body", func(t *testing.T) { check(t, "", it.RetryAfterBody) })
	}
}

// echo is everything secret a request carried: its URL and every header value.
func echo(r *http.Request) string {
	parts := []string{r.URL.String(), r.URL.RawQuery}
	for _, vs := range r.Header {
		parts = append(parts, vs...)
	}
	return strings.Join(parts, " ")
}

func testSecretsNotInErrors(t *testing.T, it HTTP) {
	// Padding moves each echoed secret across the point where an error message cuts the answer.
	var pads []int
	for p := 0; p <= 320; p += 4 {
		pads = append(pads, p)
	}
	answers := []struct {
		name   string
		status int
		body   func(echo string) string
	}{
		{"400", http.StatusBadRequest, func(e string) string { return e }},
		{"500", http.StatusInternalServerError, func(e string) string { return e }},
		{"429", http.StatusTooManyRequests, func(e string) string { return e }},
	}
	if it.ErrorBody != nil {
		answers = append(answers, struct {
			name   string
			status int
			body   func(echo string) string
		}{"200 with an error", http.StatusOK, it.ErrorBody})
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			var pad int
			var mu sync.Mutex
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				mu.Lock()
				p := pad
				mu.Unlock()
				// Each secret alone after the padding, then all of them, then the secrets as a JSON string.
				var b strings.Builder
				for _, x := range append(it.allSecrets(), echo(r)) {
					b.WriteString(strings.Repeat(".", p) + x + "\n")
				}
				w.WriteHeader(a.status)
				_, _ = io.WriteString(w, a.body(b.String()))
			})
			n := it.New(t, s.url())
			for _, p := range pads {
				mu.Lock()
				pad = p
				mu.Unlock()
				_, err := notify1(t, n, Message(""))
				require.Error(t, err)
				requireNoSecret(t, it.allSecrets(), err.Error(), fmt.Sprintf("the error (padding %d)", p))
			}
		})
	}
}

func testRedirect(t *testing.T, it HTTP) {
	other := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { it.ok(w) })
	// Another host: another name and another port than the receiver's.
	otherURL := strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1) + "/collect"
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				http.Redirect(w, r, otherURL, code)
			})
			retry, err := notify1(t, it.New(t, s.url()), Message(""))
			require.Error(t, err)
			require.False(t, retry)
			requireNoSecret(t, it.allSecrets(), err.Error(), "the error")
			require.Empty(t, other.requests(), "the other host was sent the notification")
		})
	}
}

func testCancel(t *testing.T, it HTTP) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	n := it.New(t, s.url())
	ctx, cancel := context.WithCancel(context.Background())
	type res struct {
		retry bool
		err   error
	}
	done := make(chan res, 1)
	go func() {
		retry, err := n.Notify(ctx, Message(""))
		done <- res{retry, err}
	}()
	select {
	case <-arrived:
	case <-time.After(waitFor):
		t.Fatal("the request never arrived")
	}
	cancel()
	select {
	case r := <-done:
		require.Error(t, r.err)
		requireNoSecret(t, it.allSecrets(), r.err.Error(), "the error")
	case <-time.After(waitFor):
		t.Fatal("Notify did not return after its context was cancelled")
	}
}

// endless is a body that never ends (it stops at 1 GiB so a broken client cannot run a test forever).
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	if e.n > 1<<30 {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = 'x'
	}
	e.n += len(p)
	return len(p), nil
}

func testHugeAnswer(t *testing.T, it HTTP) {
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				w.WriteHeader(status)
				_, _ = io.Copy(w, &endless{})
			})
			_, err := notify1(t, it.New(t, s.url()), Message(""))
			if err != nil {
				require.Less(t, len(err.Error()), 2048, "the error carries the whole answer")
			}
		})
	}
}

func testLongText(t *testing.T, it HTTP) {
	// Three-byte characters after 0, 1 and 2 ASCII bytes: whatever byte limit a format cuts at, one of
	// these puts the cut inside a character unless the cut respects character boundaries.
	for _, prefix := range []string{"", "a", "ab"} {
		s := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { it.ok(w) })
		long := prefix + strings.Repeat("ệ", 350000) // about 1 MiB
		_, err := notify1(t, it.New(t, s.url()), Message(long))
		require.NoError(t, err)
		reqs := s.requests()
		require.Len(t, reqs, 1)
		body := reqs[0].body
		require.True(t, utf8.Valid(body), "the body is not valid UTF-8")
		require.NotContains(t, string(body), "\uFFFD", "a character was cut in half")
		require.NotContains(t, string(body), `\ufffd`, "a character was cut in half")
		if it.MaxBodyBytes > 0 {
			require.LessOrEqual(t, len(body), it.MaxBodyBytes, "the request body is not bounded")
		}
	}
}

// Publish describes an integration that hands the body to a transport other than HTTP (MQTT).
type Publish struct {
	// New builds the integration under test; it must hand each message's body to send and report send's error.
	New func(t *testing.T, send func(body []byte) error) notify.Notifier
}

// RunPublish runs the parts of the kit that apply to a non-HTTP integration.
func RunPublish(t *testing.T, it Publish) {
	t.Run("delivers", func(t *testing.T) {
		var got [][]byte
		n := it.New(t, func(b []byte) error { got = append(got, append([]byte(nil), b...)); return nil })
		retry, err := notify1(t, n, Message(""))
		require.NoError(t, err)
		require.False(t, retry)
		require.Len(t, got, 1)
		require.True(t, utf8.Valid(got[0]))
		require.Contains(t, string(got[0]), VietnameseSummary)
	})
	t.Run("transport errors are retried", func(t *testing.T) {
		n := it.New(t, func([]byte) error { return errors.New("broker is restarting") })
		retry, err := notify1(t, n, Message(""))
		require.Error(t, err)
		require.True(t, retry)
		require.Contains(t, err.Error(), "broker is restarting")
	})
	t.Run("context cancellation", func(t *testing.T) {
		sent := 0
		n := it.New(t, func([]byte) error { sent++; return nil })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := n.Notify(ctx, Message(""))
		require.Error(t, err)
		require.Zero(t, sent, "sent after the context was cancelled")
	})
	t.Run("Vietnamese survives a cut", func(t *testing.T) {
		var got []byte
		n := it.New(t, func(b []byte) error { got = b; return nil })
		_, err := notify1(t, n, Message("ab"+strings.Repeat("ệ", 100000)))
		require.NoError(t, err)
		require.True(t, utf8.Valid(got))
		require.NotContains(t, string(got), `\ufffd`)
	})
}
