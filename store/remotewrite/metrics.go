package remotewrite

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/store/forward"
)

type metrics struct {
	forward.Metrics
	sentBytes prometheus.Counter
	relabeled prometheus.Counter
	rejected  *prometheus.CounterVec
	duration  prometheus.Histogram
}

// newMetrics registers the endpoint's metrics; the "endpoint" label is the configured name, so its values are
// bounded by the configuration.
func newMetrics(reg prometheus.Registerer, endpoint string, w *forward.Forwarder) *metrics {
	f := promauto.With(prometheus.WrapRegistererWith(prometheus.Labels{"endpoint": endpoint}, reg))
	if reg == nil {
		f = promauto.With(nil)
	}
	m := &metrics{
		Metrics: forward.NewMetrics(f, forward.MetricsOpts{
			Prefix:       "citywatch_remote_write",
			Sent:         "Samples the receiver accepted (replays after a lost acknowledgement count again).",
			DeadLettered: "Samples the receiver refused for good (400 and other 4xx) and that were written to the dead-letter file.",
			Up:           "1 when the last write request succeeded, 0 while writes fail or before the first one.",
			Pending:      "accepted by the receiver",
		}, w),
		sentBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_remote_write_sent_bytes_total",
			Help: "Bytes of accepted write requests (snappy-compressed protobuf).",
		}),
		relabeled: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_remote_write_relabel_dropped_samples_total",
			Help: "Samples not forwarded because a write_relabel rule dropped their metric name.",
		}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_remote_write_rejected_samples_total",
			Help: "Samples refused before queueing because no receiver takes them, by reason (invalid).",
		}, []string{"reason"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "citywatch_remote_write_request_duration_seconds",
			Help:    "Duration of write requests, whatever their outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	m.rejected.WithLabelValues(reasonInvalid)
	return m
}
