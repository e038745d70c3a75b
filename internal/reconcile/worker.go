package reconcile

import (
	"context"
	"sync"
)

// Worker is the goroutine of one item of a Set, so a reload can stop that item alone. The zero Worker has
// not started. Start and Stop are called under the owner's lock, never concurrently.
type Worker struct {
	stop context.CancelFunc
	done chan struct{}
}

// Start runs run in a goroutine under a context derived from parent (the owner's, so the owner's Close stops
// every worker at once), counted in wg.
func (w *Worker) Start(parent context.Context, wg *sync.WaitGroup, run func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	w.stop, w.done = cancel, done
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		run(ctx)
	}()
}

// Started reports whether Start was called.
func (w *Worker) Started() bool { return w.stop != nil }

// Stop cancels the worker and waits for its goroutine; nothing when it never started.
func (w *Worker) Stop() {
	if w.stop != nil {
		w.stop()
		<-w.done
	}
}

// Done is closed once the goroutine has returned; nil before Start.
func (w *Worker) Done() <-chan struct{} { return w.done }
