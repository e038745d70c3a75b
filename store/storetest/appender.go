// Package storetest has a store.Appender for tests: it keeps what it is given in memory, so a test can ask
// what a component wrote.
package storetest

import (
	"context"
	"slices"
	"sync"

	"citywatch/store"
)

// Appender keeps every sample appended to it (labels copied, so the caller may reuse its slices). It is safe
// for concurrent use. The zero value is ready.
type Appender struct {
	// Err, when set (before the Appender is used), fails every Append with it and keeps nothing.
	Err error

	mu      sync.Mutex
	samples []store.Sample
}

var _ store.Appender = (*Appender)(nil)

// Append keeps s, or returns Err.
func (a *Appender) Append(_ context.Context, s []store.Sample) error {
	if a.Err != nil {
		return a.Err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, x := range s {
		x.Labels = slices.Clone(x.Labels)
		a.samples = append(a.samples, x)
	}
	return nil
}

// Samples returns every sample kept, in the order they came.
func (a *Appender) Samples() []store.Sample {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.samples)
}

// Series returns the samples of metric name that have the label label=value, in the order they came.
func (a *Appender) Series(name, label, value string) []store.Sample {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []store.Sample
	for _, s := range a.samples {
		if s.Name == name && slices.Contains(s.Labels, store.Label{Name: label, Value: value}) {
			out = append(out, s)
		}
	}
	return out
}

// Last returns the last sample of Series(name, label, value), and false when there is none.
func (a *Appender) Last(name, label, value string) (store.Sample, bool) {
	s := a.Series(name, label, value)
	if len(s) == 0 {
		return store.Sample{}, false
	}
	return s[len(s)-1], true
}
