package auth

import (
	"sync"
	"time"
)

// limiter throttles failed logins per key (a user name or a client IP) with exponential backoff: after free
// failures, each further failure locks the key for base·2^k, capped at max. Failures are forgotten after
// forget without any. It holds at most maxKeys keys; when full it drops the stalest.
//
// Attempts in flight count against the limit: reserve admits an attempt only while the failures recorded plus
// the attempts still being checked stay within the free attempts (past them, one attempt at a time), and
// release records the outcome. So a parallel burst gets no more password checks than the same attempts made
// one after another; the attempts beyond wait for those in flight to finish, then see their lockout.
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
	inflight    int
	last        time.Time
	lockedUntil time.Time
	// done is closed (and replaced) whenever an attempt in flight finishes, waking the attempts waiting.
	done chan struct{}
}

func newLimiter(free int, base, max, forget time.Duration, maxKeys int) *limiter {
	return &limiter{free: free, base: base, max: max, forget: forget, maxKeys: maxKeys, keys: map[string]*limitEntry{}}
}

// wait returns how long key must wait before its next attempt (0 when it may try now).
func (l *limiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.live(key, now)
	if e == nil {
		return 0
	}
	return max(e.lockedUntil.Sub(now), 0)
}

// live returns key's entry, dropping it first if its failures are forgotten and nothing is in flight. Called
// with mu held.
func (l *limiter) live(key string, now time.Time) *limitEntry {
	e := l.keys[key]
	if e != nil && now.Sub(e.last) > l.forget {
		if e.inflight == 0 {
			delete(l.keys, key)
			return nil
		}
		e.failures, e.lockedUntil = 0, time.Time{}
	}
	return e
}

// entry returns key's live entry, adding a fresh one (evicting first when the table is full) if it has none.
// Called with mu held.
func (l *limiter) entry(key string, now time.Time) *limitEntry {
	e := l.live(key, now)
	if e == nil {
		if len(l.keys) >= l.maxKeys {
			l.evict(now)
		}
		e = &limitEntry{last: now}
		l.keys[key] = e
	}
	return e
}

// reserve admits one attempt for key. It returns a lockout (> 0) when key is locked; otherwise a non-nil
// channel when the attempts in flight use up what key may try, closed when one of them finishes (then call
// reserve again); otherwise the attempt is reserved and must be ended with release.
func (l *limiter) reserve(key string, now time.Time) (time.Duration, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now)
	if d := e.lockedUntil.Sub(now); d > 0 {
		return d, nil
	}
	if e.failures+e.inflight >= l.free && e.inflight > 0 {
		if e.done == nil {
			e.done = make(chan struct{})
		}
		return 0, e.done
	}
	e.inflight++
	return 0, nil
}

// release ends an attempt reserve admitted, recording a failure if it failed, and returns the lockout that
// failure starts (0 within the free attempts).
func (l *limiter) release(key string, failed bool, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		return 0
	}
	e.inflight = max(e.inflight-1, 0)
	if e.done != nil {
		close(e.done)
		e.done = nil
	}
	if !failed {
		return 0
	}
	return l.failLocked(e, now)
}

// fail records a failure and returns the lockout it starts (0 within the free attempts).
func (l *limiter) fail(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failLocked(l.entry(key, now), now)
}

// failLocked counts a failure of e. Called with mu held.
func (l *limiter) failLocked(e *limitEntry, now time.Time) time.Duration {
	if now.Sub(e.last) > l.forget {
		e.failures, e.lockedUntil = 0, time.Time{}
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

// reset forgets key's failures (after a successful login); attempts still in flight stay counted.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		return
	}
	if e.inflight == 0 {
		delete(l.keys, key)
		return
	}
	e.failures, e.lockedUntil = 0, time.Time{}
}

// evict drops forgotten keys, then, if still full, the key idle longest. Keys with attempts in flight stay.
// Called with mu held.
func (l *limiter) evict(now time.Time) {
	var oldest string
	var oldestT time.Time
	for k, e := range l.keys {
		if e.inflight > 0 {
			continue
		}
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
