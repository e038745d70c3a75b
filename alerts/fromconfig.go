package alerts

import "citywatch/config"

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
