package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// component is the one lifecycle shape the runner knows: Run runs a part of citywatch until ctx ends or the
// part fails, and returns only after the part's goroutines have exited. Parts with Start and Close are
// adapted by startClose.
type component struct {
	name string
	run  func(ctx context.Context) error
	// started, when not nil, is closed by run once the part is up (startClose's Start returned); the runner
	// starts the next component only then. Nil: up as soon as run is called.
	started chan struct{}
}

// runFunc is a component that is up as soon as run is called (a loop such as the ingest pipeline's).
func runFunc(name string, run func(ctx context.Context) error) component {
	return component{name: name, run: run}
}

// startClose adapts a Start/Close part: Start when the runner reaches it, Close when its turn to stop comes,
// or at once when Start fails, so a half-started part releases what it took. Either may be nil.
func startClose(name string, start func() error, closeFn func() error) component {
	started := make(chan struct{})
	stop := func() error {
		if closeFn == nil {
			return nil
		}
		return closeFn()
	}
	return component{name: name, started: started, run: func(ctx context.Context) error {
		if start != nil {
			if err := start(); err != nil {
				return errors.Join(err, stop())
			}
		}
		close(started)
		<-ctx.Done()
		return stop()
	}}
}

// closeOnly is a component that holds what New built (the stores) and releases it when it stops.
func closeOnly(name string, closeFn func() error) component { return startClose(name, nil, closeFn) }

// spawns adapts a part that starts its goroutines on a WaitGroup and stops them when ctx ends (the shape
// `runX(ctx, &wg)` some wiring files use): the component waits for them when it stops.
func spawns(name string, start func(ctx context.Context, wg *sync.WaitGroup)) component {
	return runFunc(name, func(ctx context.Context) error {
		var wg sync.WaitGroup
		start(ctx, &wg)
		<-ctx.Done()
		wg.Wait()
		return nil
	})
}

// goRun runs run in a goroutine wg waits for, for spawns: a part whose Run returns when ctx ends, so what it
// returns is not a failure of the whole.
func goRun(ctx context.Context, wg *sync.WaitGroup, run func(ctx context.Context) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = run(ctx)
	}()
}

// noErr adapts a Close without an error result.
func noErr(f func()) func() error { return func() error { f(); return nil } }

// runner runs components as one (Prometheus runs its parts as oklog/run actors in one group): it starts them
// in list order, each once the one before is up, and when ctx ends or any component returns on its own (its
// Start failed, it failed later), stops the running ones in reverse order, each only after the one above it
// has returned. Run returns every component's error, joined and named.
type runner struct {
	components []component
}

func (r *runner) add(c ...component) { r.components = append(r.components, c...) }

type exit struct {
	i   int
	err error
}

// Run starts every component and returns once all that started have stopped.
func (r *runner) Run(ctx context.Context) error {
	n := len(r.components)
	cancels := make([]context.CancelFunc, n)
	cancelled := make([]bool, n)
	stopped := make([]bool, n)
	errs := make([]error, n)
	exits := make(chan exit, n)
	failed := false
	record := func(e exit) {
		stopped[e.i] = true
		name := r.components[e.i].name
		switch {
		case !cancelled[e.i] && e.err == nil:
			errs[e.i], failed = fmt.Errorf("%s stopped on its own", name), true
		case !cancelled[e.i]:
			errs[e.i], failed = fmt.Errorf("%s: %w", name, e.err), true
		case e.err != nil && !errors.Is(e.err, context.Canceled):
			errs[e.i] = fmt.Errorf("%s: %w", name, e.err)
		}
	}
	launched := 0
	for i, c := range r.components {
		if failed || ctx.Err() != nil {
			break
		}
		cctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		launched++
		go func() { exits <- exit{i, c.run(cctx)} }()
		if c.started == nil {
			continue
		}
		// Wait until it is up or has returned; Start is synchronous, so this ends even when ctx does.
		for up := false; !up && !stopped[i]; {
			select {
			case <-c.started:
				up = true
			case e := <-exits:
				record(e)
			}
		}
	}
	if !failed {
		select {
		case <-ctx.Done():
		case e := <-exits:
			record(e)
		}
	}
	for i := launched - 1; i >= 0; i-- {
		cancelled[i] = !stopped[i] || cancelled[i]
		cancels[i]()
		for !stopped[i] {
			record(<-exits)
		}
	}
	return errors.Join(errs...)
}
