package alerts

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	evalDuration  *prometheus.HistogramVec
	evalFailures  *prometheus.CounterVec
	eventsDropped prometheus.Counter
	notifications *prometheus.CounterVec
	commitErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, m *Manager) *metrics {
	f := promauto.With(reg)
	mt := &metrics{
		evalDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "citywatch_alerts_rule_evaluation_duration_seconds",
			Help:    "Duration of one rule evaluation, by rule group.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5, 10},
		}, []string{"rule_group"}),
		evalFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_alerts_rule_evaluation_failures_total",
			Help: "Rule evaluations that failed, by rule group.",
		}, []string{"rule_group"}),
		eventsDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_alerts_events_dropped_total",
			Help: "Events dropped because the event queue was full or an event rule tracked too many keys.",
		}),
		notifications: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_alerts_notifications_total",
			Help: "Notifications handed to the outbox, by kind (firing, resolved, reminder).",
		}, []string{"kind"}),
		commitErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_alerts_commit_failures_total",
			Help: "Evaluations whose state changes could not be committed to the database (retried next time).",
		}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_alerts_active", Help: "Active alerts by state.",
		ConstLabels: prometheus.Labels{"state": "pending"},
	}, func() float64 { p, _ := m.activeCounts(); return float64(p) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_alerts_active", Help: "Active alerts by state.",
		ConstLabels: prometheus.Labels{"state": "firing"},
	}, func() float64 { _, fi := m.activeCounts(); return float64(fi) })
	return mt
}

func (m *Manager) activeCounts() (pending, firing int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rs := range m.rules {
		for _, a := range rs.alerts {
			if a.State == StateFiring {
				firing++
			} else {
				pending++
			}
		}
	}
	return pending, firing
}
