package app

import (
	"errors"
	"fmt"
	"sync/atomic"

	"citywatch/dashboards"
	"citywatch/store"
	"citywatch/store/remotewrite"
)

// buildRemoteWrite opens one writer (and its durable queue) per storage.remote_write endpoint. The writers
// opened so far are closed by closeStores when a later one fails.
func (a *App) buildRemoteWrite() error {
	cfg := a.cfg
	for _, rw := range cfg.Storage.RemoteWrite {
		w, err := remotewrite.New(remotewrite.ConfigFromConfig(rw, cfg.Edge), remotewrite.Deps{Logger: a.log, Registerer: a.reg})
		if err != nil {
			return fmt.Errorf("storage.remote_write %s: %w", rw.Name, err)
		}
		a.remoteWrite = append(a.remoteWrite, w)
	}
	return nil
}

// storeAppender is what ingest and cameras append to: the embedded TSDB, fanned out to the forwarders'
// queues (InfluxDB, remote write) when there are any. A forwarder's failure never fails the append: the
// edge keeps working on its own TSDB while an uplink is in trouble.
func (a *App) storeAppender() store.Appender {
	var names []string
	var secondary []store.Appender
	if a.influx != nil {
		names = append(names, "InfluxDB")
		secondary = append(secondary, a.influx)
	}
	for _, w := range a.remoteWrite {
		names = append(names, "remote write "+w.Name())
		secondary = append(secondary, w)
	}
	if len(secondary) == 0 {
		return a.db
	}
	log := a.log.With("component", "store")
	lastErr := make([]atomic.Value, len(secondary))
	return &store.Fanout{Primary: a.db, Secondary: secondary, OnSecondaryError: func(i int, err error) {
		var rej *store.RejectedError
		if errors.As(err, &rej) {
			return // samples the forwarder cannot carry: it counts them and logs them rate-limited
		}
		// A queue only fails when its disk does; log each new kind of failure once.
		if prev, _ := lastErr[i].Load().(string); prev != err.Error() {
			lastErr[i].Store(err.Error())
			log.Error(names[i]+" queue refused samples; the embedded TSDB has them", "err", err)
		}
	}}
}

// remoteWriteChecks are the readiness checks of the remote-write endpoints: degraded, never not-ready, while
// an endpoint fails (the data waits in its queue).
func (a *App) remoteWriteChecks() []dashboards.Check {
	var checks []dashboards.Check
	for _, w := range a.remoteWrite {
		checks = append(checks, dashboards.Check{Name: "remote_write_" + w.Name(), Degraded: true, Err: func() error {
			st := w.Status()
			if st.Up || st.State == remotewrite.StateStarting && st.QueueSamples == 0 {
				return nil
			}
			return fmt.Errorf("%s: %s (%d samples queued, data kept)", st.State, st.LastError, st.QueueSamples)
		}})
	}
	return checks
}

func (a *App) closeRemoteWrite() []error {
	var errs []error
	for _, w := range a.remoteWrite {
		errs = append(errs, w.Close())
	}
	return errs
}
