package promapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Why a request rate limit: the budgets refuse an expensive query before it allocates anything, but a
// refusal still costs a form parse, a PromQL parse and an answer. Nine clients of one viewer token looping a
// refused query sent ~700 requests/s and on two cores took the CPU another user's dashboard query needed
// (p99 4–6.5× idle). A token bucket per client, checked right after authentication and before the form or
// the query is parsed, answers the flood's excess with a 429 that costs a map lookup, and keeps one
// client's flood out of another client's budget. (The bench row: 1.5–3.6× idle with the limit, the flood
// now at 3,000–4,000 answers/s, almost all 429; what remains is HTTP and the per-request token lookup.)

// reasonRate is the citywatch_query_rejected_total reason of a request over its client's rate limit.
const reasonRate = "rate"

// Defaults of Options.RatePerClient and Options.BurstPerClient, sized for Grafana: a dashboard refresh fires
// one query per panel target plus the template variables' label and series lookups at once, 20–50 requests
// for a large dashboard, so a burst of 100 lets two dashboards (or one, twice) refresh together untouched.
// 20 requests/s sustained is a 100-query dashboard refreshed every 5 s, Grafana's shortest default refresh.
const (
	DefaultRatePerClient  = 20
	DefaultBurstPerClient = 100
)

// maxRateClients caps how many clients' buckets the limiter keeps (about 100 bytes each). A bucket that has
// refilled to its burst is the same as a new one and is dropped; past the cap an arbitrary bucket is dropped,
// which gives that client a fresh burst, not an outage.
const maxRateClients = 10_000

// rateSweepEvery is how often the limiter drops refilled buckets.
const rateSweepEvery = time.Minute

// maxRetryAfter bounds the wait a refusal announces, however small the rate.
const maxRetryAfter = time.Hour

// limiter is a token bucket per client: each request takes a token; a client with none left is refused
// until the bucket refills at rate per second, up to burst. It is safe for concurrent use.
type limiter struct {
	rate  rate.Limit
	burst int
	max   int // most buckets kept
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
	logs      *rate.Limiter // of refusal log lines, over all clients
}

// bucket is one client's tokens and when its last refusal was logged.
type bucket struct {
	tokens   *rate.Limiter
	loggedAt time.Time
}

// rateLogEvery is how often a client's refusals are logged at most, and rateLogBurst how many log lines all
// clients together may write at once (then one a second).
const (
	rateLogEvery = time.Minute
	rateLogBurst = 10
)

// newLimiter returns a limiter of perSecond requests per client sustained and burst at once, keeping at
// most maxClients buckets.
func newLimiter(perSecond float64, burst, maxClients int, now func() time.Time) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, max: maxClients, now: now,
		buckets: map[string]*bucket{}, lastSweep: now(), logs: rate.NewLimiter(1, rateLogBurst)}
}

// allow takes a token of client key's bucket. When there is none it returns false, how long until one is
// back (for Retry-After), and whether to log the refusal: once a minute per client, at most one line a
// second over all clients after a burst of rateLogBurst.
func (l *limiter) allow(key string) (ok bool, retry time.Duration, log bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= rateSweepEvery {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		l.makeRoom(now)
		b = &bucket{tokens: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	if b.tokens.AllowN(now, 1) {
		return true, 0, false
	}
	wait := (1 - b.tokens.TokensAt(now)) / float64(l.rate) // seconds
	if now.Sub(b.loggedAt) >= rateLogEvery && l.logs.AllowN(now, 1) {
		b.loggedAt, log = now, true
	}
	return false, time.Duration(min(wait, maxRetryAfter.Seconds()) * float64(time.Second)), log
}

// makeRoom makes room for a new bucket when the map is full: it drops the refilled buckets, and an arbitrary
// one when none has refilled.
func (l *limiter) makeRoom(now time.Time) {
	if len(l.buckets) < l.max {
		return
	}
	if now.Sub(l.lastSweep) >= time.Second { // a full map of busy clients is not scanned per new client
		l.sweep(now)
	}
	for k := range l.buckets {
		if len(l.buckets) < l.max {
			break
		}
		delete(l.buckets, k)
	}
}

// sweep drops the buckets that have refilled to their burst: a new bucket would answer the same.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}

// clients is the number of buckets kept.
func (l *limiter) clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfterSeconds is a Retry-After value for a wait of d: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// rateLimited answers r 429 with Retry-After when its client (Options.ClientKey) is over its request rate,
// and returns the status written and true; otherwise it writes nothing. Every request counts, the refused
// ones included, so a client looping on refusals cannot go faster than its rate.
func (a *API) rateLimited(w http.ResponseWriter, r *http.Request) (int, bool) {
	if a.limiter == nil {
		return 0, false
	}
	key := ""
	if a.client != nil {
		key = a.client(r)
	}
	ok, retry, log := a.limiter.allow(key)
	if ok {
		return 0, false
	}
	a.metrics.rejected.WithLabelValues(reasonRate).Inc()
	if log {
		a.logger.Warn("client over its query API request rate; answering 429 (logged once a minute per client)",
			"client", key, "path", r.URL.Path, "rate_per_second", float64(a.limiter.rate), "burst", a.limiter.burst)
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(retry)))
	return WriteError(w, http.StatusTooManyRequests, errorUnavailable,
		fmt.Sprintf("too many requests: this client may send %g per second (burst %d); retry later", float64(a.limiter.rate), a.limiter.burst)), true
}
