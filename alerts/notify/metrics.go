package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	deliveries  *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	pending     prometheus.Gauge
	circuitOpen *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
}

// newMetrics creates the outbox metrics on reg (nil: unregistered). Label values are configured receiver
// names and fixed status/outcome words, so cardinality is bounded.
func newMetrics(reg prometheus.Registerer, receivers []string) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		deliveries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_notify_deliveries_total",
			Help: "Notifications that reached a final status (delivered, dead: rejected by the receiver, failed: retries exhausted), by receiver.",
		}, []string{"receiver", "status"}),
		attempts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_notify_attempts_total",
			Help: "Delivery attempts by receiver and outcome (success, http_4xx, http_4xx_retry, http_5xx, rate_limited, api_error, timeout, network, blocked, redirect, render_error).",
		}, []string{"receiver", "outcome"}),
		pending: f.NewGauge(prometheus.GaugeOpts{
			Name: "citywatch_notify_pending",
			Help: "Notifications waiting for delivery (pending or in flight).",
		}),
		circuitOpen: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "citywatch_notify_circuit_open",
			Help: "1 while a receiver's circuit breaker is open or probing, else 0.",
		}, []string{"receiver"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "citywatch_notify_delivery_duration_seconds",
			Help:    "Duration of one delivery attempt (request to response), by receiver.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"receiver"}),
	}
	for _, r := range receivers {
		m.circuitOpen.WithLabelValues(r).Set(0)
		for _, s := range []string{StatusDelivered, StatusDead, StatusFailed} {
			m.deliveries.WithLabelValues(r, s)
		}
	}
	return m
}
