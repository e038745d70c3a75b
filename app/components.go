package app

import (
	"context"
	"os"
)

// components lists every part of a running citywatch in start order; the runner stops them in reverse.
// What feeds another part starts after it and stops before it: the stores first, then the ingest pipeline
// before the broker and the sources that feed it, the broker before the outbox that publishes on it, the
// outbox before the alert manager and the canary that enqueue into it, analysis and media before the camera
// monitor whose access units they take, the HTTP server last (so /readyz says started only when all is up).
// started, if not nil, is closed once everything listens.
func (a *App) components(started chan<- struct{}) []component {
	list := []component{closeOnly("stores", a.closeStores)}
	if a.influx != nil {
		list = append(list, startClose("influx", a.influx.Start, a.influx.Close))
	}
	for _, w := range a.remoteWrite {
		list = append(list, startClose("remote write "+w.Name(), w.Start, w.Close))
	}
	list = append(list,
		runFunc("ingest pipeline", a.pipeline.Run),
		runFunc("device store", func(ctx context.Context) error { a.runDeviceStore(ctx); return nil }),
		runFunc("live", func(ctx context.Context) error { a.runLive(ctx); return nil }),
	)
	if a.broker != nil {
		list = append(list, startClose("broker", a.broker.Start, noErr(a.broker.Close)))
	}
	list = append(list,
		startClose("outbox", a.outbox.Start, noErr(a.outbox.Close)),
		runFunc("alerts", a.alerts.Run),
		spawns("ward", a.runWard),
	)
	if a.canary != nil {
		list = append(list, runFunc("canary", a.canary.Run))
	}
	list = append(list, a.sourcesComponent())
	if a.cams != nil {
		list = append(list, a.camerasComponent())
	}
	list = append(list,
		a.reloaderComponent(),
		startClose("http", a.http.Start, a.http.Close),
		spawns("retention", a.runRetention),
		startClose("ready", func() error { a.markStarted(started); return nil }, func() error {
			a.ready.Store(false)
			a.log.Info("citywatch stopping")
			return nil
		}),
	)
	return list
}

// markStarted says citywatch is up: /readyz's "started" check passes, the log says where it listens.
func (a *App) markStarted(started chan<- struct{}) {
	a.ready.Store(true)
	a.running.mu.Lock()
	sources := len(a.externals)
	a.running.mu.Unlock()
	a.log.Info("citywatch started", "version", Version, "http", a.http.Addr(), "broker", a.BrokerAddr(),
		"sources", sources, "data_dir", a.cfg.DataDir)
	if started != nil {
		close(started)
	}
}

// reloaderComponent owns the reload goroutine: every value on Options.ReloadSignals (SIGHUP) loads the
// configuration with Options.ReloadConfig and applies it with Reload. A bad file keeps the running
// configuration. Without a signal channel it only waits for the stop.
func (a *App) reloaderComponent() component {
	return runFunc("reloader", func(ctx context.Context) error {
		var hup <-chan os.Signal = a.opts.ReloadSignals
		if a.opts.ReloadConfig == nil {
			hup = nil
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
			}
			next, err := a.opts.ReloadConfig()
			if err != nil {
				a.log.Error("reload refused: configuration is invalid; keeping the running one", "component", "reload", "err", err)
				continue
			}
			if err := a.Reload(next); err != nil {
				a.log.Error("reload failed", "component", "reload", "err", err)
				continue
			}
			a.log.Info("configuration reloaded", "component", "reload")
		}
	})
}
