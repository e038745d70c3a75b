package main

import (
	"testing"
	"time"
)

var pollIntervalCases = []struct {
	name            string
	remaining, done int64
	elapsed         time.Duration
	want            time.Duration
}{
	{"nothing counted yet", 300000, 0, time.Second, 5 * time.Millisecond},
	{"far from the end", 200000, 100000, time.Second, 100 * time.Millisecond},
	{"80 ms left", 8000, 100000, time.Second, 40 * time.Millisecond},
	{"near the end", 100, 100000, time.Second, 5 * time.Millisecond},
}

func TestPollInterval(t *testing.T) {
	for _, c := range pollIntervalCases {
		if got := pollInterval(c.remaining, c.done, c.elapsed); got != c.want {
			t.Errorf("%s: pollInterval(%d, %d, %s) = %s, want %s", c.name, c.remaining, c.done, c.elapsed, got, c.want)
		}
	}
}
