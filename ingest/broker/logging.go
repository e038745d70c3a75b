package broker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logInterval is how often one kind of per-message or per-connection event is logged at most; the events in
// between are counted in metrics and summarised as "suppressed" on the next line logged.
const logInterval = 10 * time.Second

// rateLimiter allows one event per key per interval and counts the ones it refused.
type rateLimiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

// maxLimiterKeys bounds the keys of a rateLimiter; keys are a closed set of event kinds, so this is a guard.
const maxLimiterKeys = 256

func newRateLimiter(interval time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{interval: interval, now: now, keys: map[string]*limitState{}}
}

// allow reports whether an event of key may be logged now, and how many were suppressed since the last one.
func (r *rateLimiter) allow(key string) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	st, found := r.keys[key]
	if !found {
		if len(r.keys) >= maxLimiterKeys {
			clear(r.keys)
		}
		r.keys[key] = &limitState{last: now}
		return true, 0
	}
	if now.Sub(st.last) < r.interval {
		st.suppressed++
		return false, 0
	}
	suppressed = st.suppressed
	st.last, st.suppressed = now, 0
	return true, suppressed
}

// limitedLogger logs events of one kind at most once per interval.
type limitedLogger struct {
	logger *slog.Logger
	lim    *rateLimiter
}

// log logs msg at level unless another event of key was logged within the interval.
func (l *limitedLogger) log(level slog.Level, key, msg string, args ...any) {
	if !l.logger.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := l.lim.allow(key)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	l.logger.Log(context.Background(), level, msg, args...)
}

// mochiLogHandler adapts our logger for mochi: it drops mochi's Debug and Info records (per-connection and
// per-packet chatter; our own hooks log and count what matters), rate-limits its warnings per message, and
// removes attributes that carry whole packets ("pk", "packet"), which may hold payloads or credentials.
type mochiLogHandler struct {
	h   slog.Handler
	lim *rateLimiter
}

func (m *mochiLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && m.h.Enabled(ctx, l)
}

func (m *mochiLogHandler) Handle(ctx context.Context, r slog.Record) error {
	var suppressed int
	if r.Level < slog.LevelError {
		var ok bool
		if ok, suppressed = m.lim.allow(r.Message); !ok {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "pk" && a.Key != "packet" {
			out.AddAttrs(a)
		}
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return m.h.Handle(ctx, out)
}

func (m *mochiLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	kept := attrs[:0:0]
	for _, a := range attrs {
		if a.Key != "pk" && a.Key != "packet" {
			kept = append(kept, a)
		}
	}
	return &mochiLogHandler{h: m.h.WithAttrs(kept), lim: m.lim}
}

func (m *mochiLogHandler) WithGroup(name string) slog.Handler {
	return &mochiLogHandler{h: m.h.WithGroup(name), lim: m.lim}
}
