package forward

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// MaxRetryAfter caps a server's Retry-After.
const MaxRetryAfter = time.Hour

// ParseRetryAfter reads a Retry-After header (RFC 9110 section 10.2.3): delay seconds or an HTTP date,
// capped at MaxRetryAfter. It reports false for an empty or unreadable value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return RetryAfterSeconds(uint64(s)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}

// RetryAfterSeconds is a Retry-After of s seconds, capped at MaxRetryAfter. Seconds are compared before they
// are multiplied: a huge value multiplied into a Duration would overflow to a negative delay, that is a retry
// loop without pause.
func RetryAfterSeconds(s uint64) time.Duration {
	return time.Duration(min(s, uint64(MaxRetryAfter/time.Second))) * time.Second
}

// Backoff returns the delay before retry attempt+1: exponential from initial, capped at maxDelay, with
// jitter in [d/2, d] so that many edges do not retry in lockstep.
func Backoff(initial, maxDelay time.Duration, attempt int) time.Duration {
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
