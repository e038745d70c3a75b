package testenv

import "sync"

// Log is a list that goroutines under test append to and the test reads, such as the events a component
// emits. Its zero value is empty and ready.
type Log[T any] struct {
	mu    sync.Mutex
	items []T
}

// Add appends x.
func (l *Log[T]) Add(x T) {
	l.mu.Lock()
	l.items = append(l.items, x)
	l.mu.Unlock()
}

// All returns a copy of what was added so far, in order.
func (l *Log[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.items...)
}
