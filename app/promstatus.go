package app

import (
	"context"
	"sync"
	"time"

	"citywatch/alerts"
	"citywatch/dashboards/promapi"
)

// reloadStatus is the last configuration (re)load, for /api/v1/status/runtimeinfo.
type reloadStatus struct {
	mu sync.Mutex
	at time.Time
	ok bool
}

func (s *reloadStatus) set(at time.Time, ok bool) {
	s.mu.Lock()
	s.at, s.ok = at, ok
	s.mu.Unlock()
}

func (s *reloadStatus) get() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at, s.ok
}

// promStatus adds what the Prometheus API's rules, alerts and status endpoints read to opts: the alert
// manager's rules and active alerts, the command-line flags, the running configuration (secrets redacted by
// config.Config.String), the last reload, and the embedded TSDB's head (not on a centre, whose data is in the
// remote engine).
func (a *App) promStatus(opts *promapi.Options) {
	a.reload.set(time.Now(), true)
	opts.Rules = ruleSource{a}
	opts.Status = promapi.Status{
		StartTime:        time.Now(),
		Flags:            a.opts.Flags,
		Config:           a.runningConfig,
		LastReload:       a.reload.get,
		StorageRetention: a.cfg.Storage.TSDB.Retention.String(),
	}
	if !a.cfg.Storage.Query.Enabled() && a.db != nil {
		opts.Status.TSDB = a.db
	}
}

// runningConfig is the configuration in force (reloads change parts of it), as YAML without secrets.
func (a *App) runningConfig() string {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	return a.cfg.String()
}

// ruleSource gives the Prometheus API the alert manager's rules and alerts; the manager is built after the API
// (it evaluates with the API's engine), so it is looked up per call.
type ruleSource struct{ a *App }

// Rules implements promapi.RuleSource.
func (s ruleSource) Rules() []promapi.Rule {
	if s.a.alerts == nil {
		return nil
	}
	list := s.a.alerts.Rules()
	out := make([]promapi.Rule, 0, len(list))
	for _, st := range list {
		r := st.Rule
		query := r.Expr
		if r.Event != nil {
			query = "event " + string(r.Event.Kind)
		}
		interval := r.Interval
		if interval == 0 {
			interval = s.a.cfg.Alerts.EvalInterval.Std()
		}
		out = append(out, promapi.Rule{Group: r.Group, File: r.File, GroupInterval: interval, Name: r.Alert, Query: query,
			For: r.For, KeepFiringFor: r.KeepFiringFor, Labels: r.Labels, Annotations: r.Annotations,
			Health: st.Health, LastError: st.LastError, LastEval: st.LastEval, EvalDuration: st.EvalDuration})
	}
	return out
}

// maxActiveAlerts bounds the active alerts one request reads (the manager's own cap per query).
const maxActiveAlerts = 10000

// ActiveAlerts implements promapi.RuleSource.
func (s ruleSource) ActiveAlerts() []promapi.Alert {
	if s.a.alerts == nil {
		return nil
	}
	var out []promapi.Alert
	for _, state := range []alerts.State{alerts.StateFiring, alerts.StatePending} {
		list, err := s.a.alerts.Alerts(context.Background(), alerts.AlertFilter{State: state, Limit: maxActiveAlerts})
		if err != nil {
			s.a.log.Warn("active alerts for the Prometheus API", "component", "promapi", "err", err)
			continue
		}
		for _, al := range list {
			out = append(out, promapi.Alert{Rule: al.Rule, Group: al.Group, Labels: al.Labels, Annotations: al.Annotations,
				State: string(al.State), ActiveAt: al.ActiveAt, Value: al.Value})
		}
	}
	return out
}
