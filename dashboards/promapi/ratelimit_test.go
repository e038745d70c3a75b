package promapi

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
)

// TestLimiter runs steps against a limiter of 10 requests/s with a burst of 5: the burst is allowed at once,
// the next request is refused with the time until a token is back, and tokens come back at the rate, never
// above the burst.
func TestLimiter(t *testing.T) {
	t.Parallel()
	type step struct {
		advance time.Duration // before the requests
		key     string
		n       int           // requests
		allowed int           // of them allowed
		retry   time.Duration // of the last refusal
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"burst then refused", []step{{n: 5, allowed: 5}, {n: 1, retry: 100 * time.Millisecond}}},
		{"refill at the rate", []step{{n: 7, allowed: 5, retry: 100 * time.Millisecond}, {advance: 250 * time.Millisecond, n: 3, allowed: 2, retry: 50 * time.Millisecond}}},
		{"partial refill shortens the wait", []step{{n: 6, allowed: 5, retry: 100 * time.Millisecond}, {advance: 40 * time.Millisecond, n: 1, retry: 60 * time.Millisecond}}},
		{"refill stops at the burst", []step{{n: 5, allowed: 5}, {advance: time.Hour, n: 6, allowed: 5}}},
		{"refusals count against the client", []step{{n: 5, allowed: 5}, {advance: 50 * time.Millisecond, n: 10, retry: 50 * time.Millisecond}, {advance: 50 * time.Millisecond, n: 1, allowed: 1}}},
		{"clients have their own buckets", []step{{key: "a", n: 50, allowed: 5, retry: 100 * time.Millisecond}, {key: "b", n: 5, allowed: 5}, {key: "a", n: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Unix(1_700_000_000, 0))
			l := newLimiter(10, 5, 100, clk.Now)
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				allowed, retry := 0, time.Duration(0)
				for range s.n {
					ok, r, _ := l.allow(s.key)
					if ok {
						allowed++
					} else {
						retry = r
					}
				}
				require.Equal(t, s.allowed, allowed, "step %d", i)
				if s.retry > 0 {
					require.InDelta(t, s.retry.Seconds(), retry.Seconds(), 1e-6, "step %d", i)
				}
			}
		})
	}
	require.Equal(t, 1, retryAfterSeconds(100*time.Millisecond))
	require.Equal(t, 1, retryAfterSeconds(0))
	require.Equal(t, 3, retryAfterSeconds(2100*time.Millisecond))
}

// TestLimiterBoundedMemory sends one request each from many distinct clients: the limiter never keeps more
// than its cap of buckets, drops refilled ones on the next sweep, and keeps a busy client's empty bucket
// while there is room.
func TestLimiterBoundedMemory(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	l := newLimiter(10, 5, 1000, clk.Now)
	for range 5 {
		l.allow("busy")
	}
	flood := 100_000
	if testing.Short() {
		flood = 10_000 // still ten times the bound
	}
	for i := range flood {
		ok, _, _ := l.allow(fmt.Sprintf("addr:10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff))
		require.True(t, ok)
		require.LessOrEqual(t, l.clients(), 1000)
	}
	require.Equal(t, 1000, l.clients())

	// Within a second every bucket has refilled; the next sweep drops them all but the new client's.
	l = newLimiter(10, 5, 1000, clk.Now)
	for i := range 999 {
		l.allow(fmt.Sprint(i))
	}
	for range 5 {
		l.allow("busy")
	}
	require.Equal(t, 1000, l.clients())
	clk.Advance(rateSweepEvery)
	ok, _, _ := l.allow("new")
	require.True(t, ok)
	require.Equal(t, 1, l.clients(), "refilled buckets are dropped")
	ok, _, _ = l.allow("busy")
	require.True(t, ok, "a dropped bucket comes back full")
}

// TestRateLimitPerClient floods the API as client A: past its burst A is answered 429 with Prometheus' error
// envelope and Retry-After, counted as reason rate, on every /api/v1 path (queries, refused queries, metadata,
// unknown paths), while client B's requests are still answered.
func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	api, err := New(loadTestData(t), Options{RatePerClient: 0.001, BurstPerClient: 10, Registerer: reg,
		ClientKey: func(r *http.Request) string { return r.Header.Get("X-Client") }})
	require.NoError(t, err)
	srv := serve(t, api)
	as := func(client, path string, form url.Values) apiCase {
		return apiCase{path: path, form: form, header: http.Header{"X-Client": {client}}}
	}
	refused := url.Values{"query": {`count_over_time({__name__=~".+"}[1h:50ms])`}}
	for range 10 {
		code, body, _ := do(t, srv, as("A", "/api/v1/query", refused))
		require.Equal(t, http.StatusBadRequest, code, body)
	}
	for _, c := range []apiCase{
		as("A", "/api/v1/query", refused),
		as("A", "/api/v1/query", url.Values{"query": {"temperature"}}),
		as("A", "/api/v1/query_range", url.Values{"query": {"temperature"}, "start": {"1700000000"}, "end": {"1700000600"}, "step": {"60"}}),
		as("A", "/api/v1/series", url.Values{"match[]": {"temperature"}}),
		as("A", "/api/v1/labels", nil),
		as("A", "/api/v1/label/__name__/values", nil),
		as("A", "/api/v1/status/buildinfo", nil),
		as("A", "/api/v1/rules", nil),
		as("A", "/api/v1/nope", nil),
	} {
		code, body, h := do(t, srv, c)
		require.Equal(t, http.StatusTooManyRequests, code, "%s: %s", c.path, body)
		e := decodeError(t, body)
		require.Equal(t, "unavailable", e.ErrorType)
		require.Contains(t, e.Error, "too many requests")
		require.NotEmpty(t, h.Get("Retry-After"))
		require.Equal(t, "application/json", h.Get("Content-Type"))
	}
	require.InDelta(t, 9, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonRate)), 0)
	require.InDelta(t, 10, testutil.ToFloat64(api.metrics.rejected.WithLabelValues(reasonStep)), 0, "refused queries are not parsed")

	for range 10 {
		code, body, _ := do(t, srv, as("B", "/api/v1/query", url.Values{"query": {"temperature"}}))
		require.Equal(t, http.StatusOK, code, body)
	}
	require.Equal(t, 2, api.limiter.clients())
}

func TestRateLimitDefaults(t *testing.T) {
	t.Parallel()
	api, err := New(loadTestData(t), Options{})
	require.NoError(t, err)
	require.InDelta(t, DefaultRatePerClient, float64(api.limiter.rate), 0)
	require.Equal(t, DefaultBurstPerClient, api.limiter.burst)
	for _, o := range []Options{{RatePerClient: -1}, {BurstPerClient: -1}} {
		_, err = New(loadTestData(t), o)
		require.ErrorContains(t, err, "must not be negative")
	}
}

// TestLimiterLog has refusals logged once a minute per client, and at most rateLogBurst clients at once.
func TestLimiterLog(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	l := newLimiter(1, 1, 1000, clk.Now)
	logged := func(key string, n int) int {
		count := 0
		for range n {
			if _, _, log := l.allow(key); log {
				count++
			}
		}
		return count
	}
	require.Equal(t, 1, logged("a", 100), "first refusal logged, the rest not")
	clk.Advance(30 * time.Second)
	require.Equal(t, 0, logged("a", 100))
	clk.Advance(30 * time.Second)
	require.Equal(t, 1, logged("a", 100))
	l = newLimiter(1, 1, 1000, clk.Now)
	total := 0
	for i := range 50 {
		total += logged(fmt.Sprint("flood-", i), 3)
	}
	require.Equal(t, rateLogBurst, total, "many clients at once: the log's own burst")
}
