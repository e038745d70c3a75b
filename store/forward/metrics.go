package forward

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// RetryReasons are the values of the retries counter's "reason" label (Failure.Reason).
var RetryReasons = []string{"network", "server", "throttled", "unauthorized", "other"}

// MetricsOpts name a backend's metrics and say, in their help, what its receiver does.
type MetricsOpts struct {
	// Prefix starts every name, e.g. "citywatch_influx".
	Prefix string
	// Sent, DeadLettered and Up are the help of <prefix>_sent_samples_total,
	// <prefix>_dead_lettered_samples_total and <prefix>_up.
	Sent, DeadLettered, Up string
	// Pending ends the help of the queue size gauges, e.g. "written to InfluxDB" in "Samples queued and not
	// yet written to InfluxDB.".
	Pending string
}

// NewMetrics registers with f the metrics every backend has: the counters the forwarder keeps (every retry
// reason present from the start) and the queue gauges and counters, read from w when scraped.
func NewMetrics(f promauto.Factory, o MetricsOpts, w *Forwarder) Metrics {
	m := Metrics{
		Sent: f.NewCounter(prometheus.CounterOpts{Name: o.Prefix + "_sent_samples_total", Help: o.Sent}),
		DeadLettered: f.NewCounter(prometheus.CounterOpts{
			Name: o.Prefix + "_dead_lettered_samples_total", Help: o.DeadLettered,
		}),
		Retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: o.Prefix + "_retries_total",
			Help: "Failed write attempts that will be retried, by reason (network, server, throttled, unauthorized, other).",
		}, []string{"reason"}),
		Up: f.NewGauge(prometheus.GaugeOpts{Name: o.Prefix + "_up", Help: o.Up}),
	}
	for _, r := range RetryReasons {
		m.Retries.WithLabelValues(r)
	}
	gauge := func(name, help string, v func() float64) {
		f.NewGaugeFunc(prometheus.GaugeOpts{Name: o.Prefix + name, Help: help}, v)
	}
	counter := func(name, help string, v func() float64) {
		f.NewCounterFunc(prometheus.CounterOpts{Name: o.Prefix + name, Help: help}, v)
	}
	gauge("_queue_samples", "Samples queued and not yet "+o.Pending+".",
		func() float64 { return float64(w.Queue().Stats().Items) })
	gauge("_queue_bytes", "Bytes of queued records not yet "+o.Pending+".",
		func() float64 { return float64(w.Queue().Stats().Bytes) })
	gauge("_queue_disk_bytes", "Bytes of all queue segment files (bounded by queue.max_bytes).",
		func() float64 { return float64(w.Queue().Stats().DiskBytes) })
	gauge("_queue_oldest_age_seconds", "Age of the oldest queued sample, 0 when the queue is empty.",
		func() float64 { return w.Status().OldestAge.Seconds() })
	counter("_dropped_samples_total", "Samples deleted unsent because the queue was full (drop_oldest).",
		func() float64 { return float64(w.Queue().Stats().DroppedItems) })
	counter("_queue_corrupt_samples_total", "Queued samples lost to records found corrupt while reading.",
		func() float64 { return float64(w.Queue().Stats().CorruptItems) })
	return m
}
