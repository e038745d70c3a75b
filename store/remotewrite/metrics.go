package remotewrite

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/store/forward"
)

// Retry reasons of citywatch_remote_write_retries_total.
var retryReasons = []string{"network", "server", "throttled", "unauthorized", "other"}

type metrics struct {
	sent         prometheus.Counter
	sentBytes    prometheus.Counter
	deadLettered prometheus.Counter
	relabeled    prometheus.Counter
	retries      *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	duration     prometheus.Histogram
	up           prometheus.Gauge
}

// newMetrics registers the endpoint's metrics; the "endpoint" label is the configured name, so its values are
// bounded by the configuration.
func newMetrics(reg prometheus.Registerer, endpoint string, w *forward.Forwarder) *metrics {
	f := promauto.With(prometheus.WrapRegistererWith(prometheus.Labels{"endpoint": endpoint}, reg))
	if reg == nil {
		f = promauto.With(nil)
	}
	m := &metrics{
		sent: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_remote_write_sent_samples_total",
			Help: "Samples the receiver accepted (replays after a lost acknowledgement count again).",
		}),
		sentBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_remote_write_sent_bytes_total",
			Help: "Bytes of accepted write requests (snappy-compressed protobuf).",
		}),
		deadLettered: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_remote_write_dead_lettered_samples_total",
			Help: "Samples the receiver refused for good (400 and other 4xx) and that were written to the dead-letter file.",
		}),
		relabeled: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_remote_write_relabel_dropped_samples_total",
			Help: "Samples not forwarded because a write_relabel rule dropped their metric name.",
		}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_remote_write_retries_total",
			Help: "Failed write attempts that will be retried, by reason (network, server, throttled, unauthorized, other).",
		}, []string{"reason"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_remote_write_rejected_samples_total",
			Help: "Samples refused before queueing because no receiver takes them, by reason (invalid).",
		}, []string{"reason"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "citywatch_remote_write_request_duration_seconds",
			Help:    "Duration of write requests, whatever their outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		up: f.NewGauge(prometheus.GaugeOpts{
			Name: "citywatch_remote_write_up",
			Help: "1 when the last write request succeeded, 0 while writes fail or before the first one.",
		}),
	}
	for _, r := range retryReasons {
		m.retries.WithLabelValues(r)
	}
	m.rejected.WithLabelValues(reasonInvalid)
	gauge := func(name, help string, v func() float64) {
		f.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v)
	}
	counter := func(name, help string, v func() float64) {
		f.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, v)
	}
	gauge("citywatch_remote_write_queue_samples", "Samples queued and not yet accepted by the receiver.",
		func() float64 { return float64(w.Queue().Stats().Items) })
	gauge("citywatch_remote_write_queue_bytes", "Bytes of queued records not yet accepted by the receiver.",
		func() float64 { return float64(w.Queue().Stats().Bytes) })
	gauge("citywatch_remote_write_queue_disk_bytes", "Bytes of all queue segment files (bounded by queue.max_bytes).",
		func() float64 { return float64(w.Queue().Stats().DiskBytes) })
	gauge("citywatch_remote_write_queue_oldest_age_seconds", "Age of the oldest queued sample, 0 when the queue is empty.",
		func() float64 { return w.Status().OldestAge.Seconds() })
	counter("citywatch_remote_write_dropped_samples_total", "Samples deleted unsent because the queue was full (drop_oldest).",
		func() float64 { return float64(w.Queue().Stats().DroppedItems) })
	counter("citywatch_remote_write_queue_corrupt_samples_total", "Queued samples lost to records found corrupt while reading.",
		func() float64 { return float64(w.Queue().Stats().CorruptItems) })
	return m
}

// forward are the metrics the forwarder keeps.
func (m *metrics) forward() forward.Metrics {
	return forward.Metrics{Sent: m.sent, DeadLettered: m.deadLettered, Retries: m.retries, Up: m.up}
}
