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
