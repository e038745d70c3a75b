package auth

import (
	"sync"
	"time"
)

// limiter throttles failed logins per key (a user name or a client IP) with exponential backoff: after free
// failures, each further failure locks the key for base·2^k, capped at max. Failures are forgotten after
// forget without any. It holds at most maxKeys keys; when full it drops the stalest.
type limiter struct {
	mu      sync.Mutex
	free    int
	base    time.Duration
	max     time.Duration
	forget  time.Duration
	maxKeys int
	keys    map[string]*limitEntry
}

type limitEntry struct {
	failures    int
	last        time.Time
	lockedUntil time.Time
}

func newLimiter(free int, base, max, forget time.Duration, maxKeys int) *limiter {
	return &limiter{free: free, base: base, max: max, forget: forget, maxKeys: maxKeys, keys: map[string]*limitEntry{}}
}

// wait returns how long key must wait before its next attempt (0 when it may try now).
func (l *limiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		return 0
	}
	if now.Sub(e.last) > l.forget {
		delete(l.keys, key)
		return 0
	}
	if d := e.lockedUntil.Sub(now); d > 0 {
		return d
	}
	return 0
}

// fail records a failure and returns the lockout it starts (0 within the free attempts).
func (l *limiter) fail(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil || now.Sub(e.last) > l.forget {
		if len(l.keys) >= l.maxKeys {
			l.evict(now)
		}
		e = &limitEntry{}
		l.keys[key] = e
	}
	e.failures++
	e.last = now
	over := e.failures - l.free
	if over <= 0 {
		return 0
	}
	d := l.base
	for i := 1; i < over && d < l.max; i++ {
		d *= 2
	}
	d = min(d, l.max)
	e.lockedUntil = now.Add(d)
	return d
}

// reset forgets key's failures (after a successful login).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

// evict drops forgotten keys, then, if still full, the key idle longest. Called with mu held.
func (l *limiter) evict(now time.Time) {
	var oldest string
	var oldestT time.Time
	for k, e := range l.keys {
		if now.Sub(e.last) > l.forget {
			delete(l.keys, k)
			continue
		}
		if oldest == "" || e.last.Before(oldestT) {
			oldest, oldestT = k, e.last
		}
	}
	if len(l.keys) >= l.maxKeys && oldest != "" {
		delete(l.keys, oldest)
	}
}
