package forward

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var retryAfterCases = []struct {
	name   string
	header string
	want   time.Duration
	ok     bool
}{
	{"seconds", "7", 7 * time.Second, true},
	{"zero", "0", 0, true},
	{"http date", "Fri, 27 Nov 2026 04:00:30 GMT", 30 * time.Second, true},
	{"date in the past", "Fri, 27 Nov 2026 03:00:00 GMT", 0, true},
	{"date far ahead is capped", "Fri, 27 Nov 2099 04:00:00 GMT", MaxRetryAfter, true},
	{"capped", "999999", MaxRetryAfter, true},
	{"exactly the cap", "3600", MaxRetryAfter, true},
	{"overflowing a Duration is capped, not negative", "9227000000", MaxRetryAfter, true},
	{"largest int64 is capped", "9223372036854775807", MaxRetryAfter, true},
	{"beyond int64", "99999999999999999999", 0, false},
	{"negative", "-1", 0, false},
	{"fraction", "1.5", 0, false},
	{"garbage", "soon", 0, false},
	{"absent", "", 0, false},
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	for _, c := range retryAfterCases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(c.header, now)
			require.Equal(t, c.ok, ok)
			require.Equal(t, c.want, got)
		})
	}
}

var retryAfterSecondsCases = []struct {
	secs uint64
	want time.Duration
}{
	{0, 0},
	{3, 3 * time.Second},
	{3599, 3599 * time.Second},
	{3601, MaxRetryAfter},
	{9227000000, MaxRetryAfter}, // overflows a Duration once multiplied
	{1<<63 - 1, MaxRetryAfter},  // largest int64
	{^uint64(0), MaxRetryAfter}, // beyond int64
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, c := range retryAfterSecondsCases {
		require.Equal(t, c.want, RetryAfterSeconds(c.secs), "%d", c.secs)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, c := range retryAfterCases {
		f.Add(c.header)
	}
	now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if ok && (d < 0 || d > MaxRetryAfter) {
			t.Fatalf("ParseRetryAfter(%q) = %s out of [0, %s]", v, d, MaxRetryAfter)
		}
	})
}

func TestBackoffBounds(t *testing.T) {
	for attempt := 0; attempt < 40; attempt++ {
		d := Backoff(time.Second, time.Minute, attempt)
		want := min(time.Second<<min(attempt, 20), time.Minute)
		require.GreaterOrEqual(t, d, want/2)
		require.LessOrEqual(t, d, want)
	}
}
