package alerts

import "citywatch/config"

// FlapFromConfig is the flap detection of the alerts section; its count 0 (off) is FlapPolicy's -1.
func FlapFromConfig(ac config.AlertsConfig) FlapPolicy {
	p := FlapPolicy{Count: ac.Flap.Count, Window: ac.Flap.Window.Std(), Notify: ac.Flap.Notify}
	if p.Count == 0 {
		p.Count = -1
	}
	return p
}

// GroupingFromConfig is the notification grouping of the alerts section. group_wait: 0 means "send at once",
// which Grouping spells -1 (its zero value means the default).
func GroupingFromConfig(ac config.AlertsConfig) Grouping {
	g := Grouping{GroupBy: ac.GroupBy, GroupWait: ac.GroupWait.Std(), GroupInterval: ac.GroupInterval.Std(),
		RepeatInterval: ac.RepeatInterval.Std()}
	if g.GroupWait == 0 {
		g.GroupWait = -1
	}
	return g
}

// ConfigFromConfig is the alert manager's view of the alerts section: the evaluation interval, grouping, flap
// detection and external URL. The rules come from alerts.rule_files, which the caller loads (and reloads)
// itself; the manager's other settings (query timeout, event queue, silence retention) have no key and keep
// their defaults. A test in app fails when a field of Config is reached by no key and is not listed as
// deliberately internal.
func ConfigFromConfig(ac config.AlertsConfig) Config {
	return Config{EvalInterval: ac.EvalInterval.Std(), Grouping: GroupingFromConfig(ac), ExternalURL: ac.ExternalURL,
		Flap: FlapFromConfig(ac)}
}
