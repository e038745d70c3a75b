package influx

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/store/forward"
)

type metrics struct {
	sent         prometheus.Counter
	deadLettered prometheus.Counter
	retries      *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	up           prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, w *forward.Forwarder) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		sent: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_influx_sent_samples_total",
			Help: "Samples written to InfluxDB (replays after a lost acknowledgement count again).",
		}),
		deadLettered: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_influx_dead_lettered_samples_total",
			Help: "Samples InfluxDB refused (400/422) and that were written to the dead-letter file.",
		}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_influx_retries_total",
			Help: "Failed write attempts that will be retried, by reason (network, server, throttled, unauthorized, other).",
		}, []string{"reason"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_influx_rejected_samples_total",
			Help: "Samples refused before queueing because line protocol cannot carry them, by reason (non_finite, invalid).",
		}, []string{"reason"}),
		up: f.NewGauge(prometheus.GaugeOpts{
			Name: "citywatch_influx_up",
			Help: "1 when the last write to InfluxDB succeeded, 0 while it fails (network, auth) or before the first write.",
		}),
	}
	for _, r := range []string{"network", "server", "throttled", "unauthorized", "other"} {
		m.retries.WithLabelValues(r)
	}
	for _, r := range []string{reasonNonFinite, reasonInvalid} {
		m.rejected.WithLabelValues(r)
	}
	gauge := func(name, help string, v func() float64) {
		f.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v)
	}
	counter := func(name, help string, v func() float64) {
		f.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, v)
	}
	gauge("citywatch_influx_queue_bytes", "Bytes of queued records not yet written to InfluxDB.",
		func() float64 { return float64(w.Queue().Stats().Bytes) })
	gauge("citywatch_influx_queue_disk_bytes", "Bytes of all queue segment files (bounded by the queue size limit).",
		func() float64 { return float64(w.Queue().Stats().DiskBytes) })
	gauge("citywatch_influx_queue_samples", "Samples queued and not yet written to InfluxDB.",
		func() float64 { return float64(w.Queue().Stats().Items) })
	gauge("citywatch_influx_queue_oldest_age_seconds", "Age of the oldest queued sample, 0 when the queue is empty.",
		func() float64 { return w.Status().OldestAge.Seconds() })
	counter("citywatch_influx_dropped_samples_total", "Samples deleted unsent because the queue was full (drop_oldest).",
		func() float64 { return float64(w.Queue().Stats().DroppedItems) })
	counter("citywatch_influx_queue_corrupt_samples_total", "Queued samples lost to records found corrupt while reading.",
		func() float64 { return float64(w.Queue().Stats().CorruptItems) })
	counter("citywatch_influx_queue_corrupt_bytes_total", "Queue bytes truncated or skipped as torn or corrupt (crash recovery).",
		func() float64 { return float64(w.Queue().Stats().CorruptBytes) })
	return m
}

// forward are the metrics the forwarder keeps.
func (m *metrics) forward() forward.Metrics {
	return forward.Metrics{Sent: m.sent, DeadLettered: m.deadLettered, Retries: m.retries, Up: m.up}
}
