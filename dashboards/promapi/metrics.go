package promapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	rejected *prometheus.CounterVec
}

// newMetrics creates the API's metrics and registers them on reg unless it is nil. Label values are bounded:
// the route name and the status code.
func newMetrics(reg prometheus.Registerer, g *gate) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_promapi_requests_total",
			Help: "Prometheus query API requests, by route and status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "citywatch_promapi_request_duration_seconds",
			Help:    "Time to answer a Prometheus query API request, by route.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"handler"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_query_rejected_total",
			Help: "Prometheus API queries refused by a query budget, by reason: concurrency (no slot within the queue wait), samples (max_samples), timeout, step (below min_step), points (over max_points), rate (a client over rate_per_client, answered 429).",
		}, []string{"reason"}),
	}
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_query_in_flight",
		Help: "Prometheus API queries holding one of the max_concurrent slots.",
	}, func() float64 { return float64(g.inUse()) })
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_query_queued",
		Help: "Prometheus API queries waiting (at most queue_wait) for a free slot.",
	}, func() float64 { return float64(g.queued()) })
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.rejected, inFlight, queued} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("promapi: register metrics: %w", err)
		}
	}
	return m, nil
}

// safeRegisterer turns the PromQL engine's MustRegister panics (a second API on one registry) into an error
// that New returns.
type safeRegisterer struct {
	prometheus.Registerer
	err error
}

// MustRegister implements prometheus.Registerer without panicking.
func (s *safeRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := s.Register(c); err != nil && s.err == nil {
			s.err = err
		}
	}
}
