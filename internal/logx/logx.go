// Package logx holds the one logging default every component shares (STYLE.md, "Errors, logs, metrics"): a
// component takes a *slog.Logger in its Deps, nil discards, and what it logs carries a "component" attribute
// naming the subsystem. Component says that once instead of in each New.
package logx

import "log/slog"

// Or returns l, or a logger that discards everything when l is nil: what a part does with a logger that
// already carries its caller's component (clock.Or's twin).
func Or(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Component returns the logger a component keeps: l (nil discards) with the "component" attribute set to
// name.
func Component(l *slog.Logger, name string) *slog.Logger {
	return Or(l).With("component", name)
}
