package app

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/cameras/analyze"
	"citywatch/cameras/media"
	"citywatch/config"
	"citywatch/dashboards"
	"citywatch/ingest"
)

// running is what a reload may change while citywatch runs, and the stores' one close.
type running struct {
	mu        sync.Mutex // guards App.externals and sourcesUp
	sourcesUp bool       // the sources component has started them
	// analysed and media are the cameras of analysis and media now (reloadCameras; guarded by App.reloadMu).
	analysed   []analyze.CameraConfig
	media      []media.CameraConfig
	storesOnce sync.Once
	storesErr  error
}

// closeStoresOnce closes the stores the first time only: the stores component does it when it stops, run
// again when the runner never reached that component.
func (a *App) closeStoresOnce() error {
	a.running.storesOnce.Do(func() { a.running.storesErr = a.closeStores() })
	return a.running.storesErr
}

// sourcesComponent runs the external MQTT sources (ingest.sources), which a reload may add, remove or change.
func (a *App) sourcesComponent() component {
	return startClose("sources", func() error {
		a.running.mu.Lock()
		defer a.running.mu.Unlock()
		a.running.sourcesUp = true
		for _, ext := range a.externals {
			if err := ext.Start(); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		a.running.mu.Lock()
		defer a.running.mu.Unlock()
		a.running.sourcesUp = false
		for _, ext := range a.externals {
			ext.Close()
		}
		return nil
	})
}

// camerasComponent runs camera analysis, media and the monitor. The monitor feeds the other two, so it
// starts last and stops first.
func (a *App) camerasComponent() component {
	return startClose("cameras", func() error {
		for _, start := range []func() error{a.analyzer.Start, a.media.Start, a.cams.Start} {
			if err := start(); err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		closers := []func(){a.analyzer.Close, a.media.Close, a.cams.Close}
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]() // each Close is safe before Start
		}
		return nil
	})
}

// sourceChecks are the readiness checks of the external sources running now (a reload changes them).
func (a *App) sourceChecks() []dashboards.Check {
	a.running.mu.Lock()
	defer a.running.mu.Unlock()
	checks := make([]dashboards.Check, 0, len(a.externals))
	for _, ext := range a.externals {
		checks = append(checks, dashboards.Check{Name: "source_" + ext.Status().Name, Err: func() error {
			st := ext.Status()
			switch {
			case !st.Connected:
				return fmt.Errorf("not connected to %s: %s", st.URL, st.LastError)
			case !st.Subscribed:
				return fmt.Errorf("connected to %s, not subscribed yet", st.URL)
			case st.StoreFailing:
				return errors.New("the store is failing; messages are held unacknowledged")
			}
			return nil
		}})
	}
	return checks
}

// Reload applies a new configuration as a diff, as mediamtx does: the topic mapping rules, the alert rule
// files, the notification receivers and routes, the external MQTT sources and the cameras change while
// citywatch runs, and only what changed is recreated — an unchanged camera keeps its RTSP session, an
// unchanged source its broker connection, an unchanged receiver its workers and breaker. Other changes are
// logged as needing a restart. The mapping and the rules are checked first: if either fails to load nothing
// changes. A failure in a later part is returned after the parts before it applied.
func (a *App) Reload(next *config.Config) (err error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	defer func() { a.reload.set(time.Now(), err == nil) }()
	m, err := newMapper(next)
	if err != nil {
		return err
	}
	ruleList, err := a.loadRules(next)
	if err != nil {
		return err
	}
	if err := a.alerts.SetRules(ruleList); err != nil {
		return err
	}
	a.mapper.cur.Store(m)
	a.cfg.Ingest.Rules, a.cfg.Alerts.RuleFiles = next.Ingest.Rules, next.Alerts.RuleFiles
	a.cfg.Ingest.DefaultMapping, a.cfg.Ingest.MaxPayloadBytes = next.Ingest.DefaultMapping, next.Ingest.MaxPayloadBytes
	a.cfg.Ingest.MaxFieldsPerMessage = next.Ingest.MaxFieldsPerMessage // the mapper applies these three

	var errs []error
	if err := a.outbox.SetConfig(notify.ConfigFromConfig(next)); err != nil {
		errs = append(errs, fmt.Errorf("notify: %w", err))
	} else {
		a.cfg.Notify.Receivers, a.cfg.Notify.Routes, a.cfg.Notify.DefaultReceiver = next.Notify.Receivers, next.Notify.Routes, next.Notify.DefaultReceiver
	}
	if err := a.reloadSources(next.Ingest.Sources); err != nil {
		errs = append(errs, err)
	}
	if err := a.reloadCameras(next.Cameras); err != nil {
		errs = append(errs, err)
	}
	if rest := restartNeeded(a.cfg, next); rest {
		a.log.Warn("configuration changes other than ingest rules, alert rule files, notification receivers and routes, "+
			"sources and cameras need a restart to apply", "component", "reload")
	}
	return errors.Join(errs...)
}

// restartNeeded reports whether next differs from the running configuration in more than what Reload
// applies.
func restartNeeded(cur, next *config.Config) bool {
	old := *cur
	old.Ingest.Rules, old.Ingest.DefaultMapping, old.Ingest.MaxPayloadBytes = next.Ingest.Rules, next.Ingest.DefaultMapping, next.Ingest.MaxPayloadBytes
	old.Ingest.MaxFieldsPerMessage = next.Ingest.MaxFieldsPerMessage // the mapper applies it
	old.Alerts.RuleFiles = next.Alerts.RuleFiles
	old.Notify.Receivers, old.Notify.Routes, old.Notify.DefaultReceiver = next.Notify.Receivers, next.Notify.Routes, next.Notify.DefaultReceiver
	old.Ingest.Sources, old.Cameras = next.Ingest.Sources, next.Cameras
	return old.String() != next.String()
}

// reloadSources makes the running external sources those of next: an unchanged source keeps its connection;
// a removed one is closed; an added one starts; a changed one is closed and started anew. The TLS files of
// new and changed sources are read before any is touched, so a missing file changes nothing.
func (a *App) reloadSources(next []config.SourceConfig) error {
	cur := map[string]config.SourceConfig{}
	for _, s := range a.cfg.Ingest.Sources {
		cur[s.Name] = s
	}
	for _, s := range next {
		if old, ok := cur[s.Name]; ok && reflect.DeepEqual(old, s) {
			continue
		}
		if _, err := clientTLS(s.TLS); err != nil {
			return fmt.Errorf("ingest.sources %q: %w", s.Name, err)
		}
	}
	a.running.mu.Lock()
	defer a.running.mu.Unlock()
	byName := map[string]*ingest.External{}
	for i, ext := range a.externals {
		byName[a.cfg.Ingest.Sources[i].Name] = ext
	}
	keep := map[string]bool{}
	for _, s := range next {
		if old, ok := cur[s.Name]; ok && reflect.DeepEqual(old, s) {
			keep[s.Name] = true
		}
	}
	stopped := 0
	for name, ext := range byName {
		if !keep[name] {
			ext.Close() // before its replacement registers the same metrics and client id
			stopped++
		}
	}
	var errs []error
	var exts []*ingest.External
	var cfgs []config.SourceConfig
	for _, s := range next {
		if keep[s.Name] {
			exts, cfgs = append(exts, byName[s.Name]), append(cfgs, s)
			continue
		}
		ext, err := a.newExternal(s)
		if err == nil && a.running.sourcesUp {
			if err = ext.Start(); err != nil {
				ext.Close()
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		exts, cfgs = append(exts, ext), append(cfgs, s)
	}
	a.externals, a.cfg.Ingest.Sources = exts, cfgs
	if stopped > 0 || len(exts) > len(keep) {
		a.log.Info("sources changed", "component", "reload", "sources", len(exts), "stopped", stopped,
			"started", len(exts)-len(keep))
	}
	return errors.Join(errs...)
}

// reloadCameras makes the cameras those of next (plus Options.Cameras, the demo's) in the monitor, analysis
// and media: an unchanged camera keeps its session, decoder, ring buffer and live viewers. The lists are
// validated before anything changes. The sinks learn an added camera before the monitor connects to it and
// forget a removed one only after the monitor has disconnected it, so no access unit reaches a sink that does
// not know its camera. An edge that started without cameras has no camera monitor: its first cameras need a
// restart.
func (a *App) reloadCameras(next []config.CameraConfig) error {
	if a.cams == nil {
		if len(next) > 0 {
			a.log.Warn("cameras were added to an edge that started without any: restart to monitor them", "component", "reload")
		}
		return nil
	}
	mons, acams, mcams, err := a.cameraSets(next)
	if err != nil {
		return err
	}
	// As New builds them (only the cameras set), so the components' own checks cannot refuse them halfway.
	mc, ac := cameras.Config{Cameras: mons}, analyze.Config{Cameras: acams}
	mc.SetDefaults()
	ac.SetDefaults()
	if err := errors.Join(mc.Validate(), ac.Validate()); err != nil {
		return fmt.Errorf("cameras: %w", err)
	}
	prevA, prevM := a.running.analysed, a.running.media
	steps := []func() error{
		func() error {
			return a.analyzer.SetCameras(withGone(acams, prevA, func(c analyze.CameraConfig) string { return c.ID }))
		},
		func() error {
			return a.media.SetCameras(withGone(mcams, prevM, func(c media.CameraConfig) string { return c.ID }))
		},
		func() error { return a.cams.SetCameras(mons) },
		func() error { return a.analyzer.SetCameras(acams) },
		func() error { return a.media.SetCameras(mcams) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	a.running.analysed, a.running.media = acams, mcams
	a.cfg.Cameras = next
	return nil
}

// withGone is next followed by the entries of prev whose id next lacks: the sinks' list while the monitor
// still feeds the cameras a reload removes.
func withGone[T any](next, prev []T, id func(T) string) []T {
	in := make(map[string]bool, len(next))
	for _, c := range next {
		in[id(c)] = true
	}
	out := append([]T(nil), next...)
	for _, c := range prev {
		if !in[id(c)] {
			out = append(out, c)
		}
	}
	return out
}
