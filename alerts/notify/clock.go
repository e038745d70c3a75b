package notify

import "time"

// Clock tells the outbox the time. Retry schedules, Retry-After and circuit breaker cool-downs use it, so
// tests can move time forward. Nil in Deps means the real clock.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
