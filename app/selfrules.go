package app

import (
	"citywatch/alerts"
	"citywatch/deploy/rules"
	"citywatch/ingest"
)

// withSelfRules adds the built-in self-monitoring rules (deploy/rules/citywatch-self.yaml) to list (withPack).
func withSelfRules(list []alerts.Rule) ([]alerts.Rule, error) {
	return withPack(list, rules.SelfName, rules.Self)
}

// withPack adds the built-in rule pack name (its text) to list, except the alerts list already has: an
// operator's own rule of that name replaces the built-in one.
func withPack(list []alerts.Rule, name, text string) ([]alerts.Rule, error) {
	pack, err := alerts.ParseRuleFile(name, []byte(text))
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(list))
	for _, r := range list {
		have[r.Alert] = true
	}
	for _, r := range pack {
		if !have[r.Alert] {
			list = append(list, r)
		}
	}
	return list, nil
}

// ingestRejected hands a counted ingest rejection to the event rules (IngestRejectedBurst, IngestSeriesLimit).
func (a *App) ingestRejected(reason string, n int) {
	if a.alerts == nil {
		return
	}
	a.alerts.Event(alerts.Event{Kind: alerts.KindIngestRejected, Labels: map[string]string{"reason": reason},
		Value: float64(n)})
}

// ingestStatus hands the pipeline's periodic status to the event rules (IngestStalled).
func (a *App) ingestStatus(st ingest.Status) {
	if a.alerts == nil {
		return
	}
	a.alerts.Event(alerts.Event{Kind: alerts.KindIngestStatus, Time: st.Time, Value: st.Stalled.Seconds()})
}
