package influx

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/store/forward"
)

type metrics struct {
	forward.Metrics
	rejected *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, w *forward.Forwarder) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		Metrics: forward.NewMetrics(f, forward.MetricsOpts{
			Prefix:       "citywatch_influx",
			Sent:         "Samples written to InfluxDB (replays after a lost acknowledgement count again).",
			DeadLettered: "Samples InfluxDB refused (400/422) and that were written to the dead-letter file.",
			Up:           "1 when the last write to InfluxDB succeeded, 0 while it fails (network, auth) or before the first write.",
			Pending:      "written to InfluxDB",
		}, w),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_influx_rejected_samples_total",
			Help: "Samples refused before queueing because line protocol cannot carry them, by reason (non_finite, invalid).",
		}, []string{"reason"}),
	}
	for _, r := range []string{reasonNonFinite, reasonInvalid} {
		m.rejected.WithLabelValues(r)
	}
	f.NewCounterFunc(prometheus.CounterOpts{
		Name: "citywatch_influx_queue_corrupt_bytes_total",
		Help: "Queue bytes truncated or skipped as torn or corrupt (crash recovery).",
	}, func() float64 { return float64(w.Queue().Stats().CorruptBytes) })
	return m
}
