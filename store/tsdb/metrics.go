package tsdb

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/store"
)

// Rejection reasons, the bounded values of the reason label of citywatch_store_samples_rejected_total and of
// store.RejectedError.Reason.
const (
	// ReasonOutOfBounds: older than the head block accepts, out-of-order ingestion disabled.
	ReasonOutOfBounds = "out_of_bounds"
	// ReasonTooOld: older than the out-of-order window allows.
	ReasonTooOld = "too_old"
	// ReasonOutOfOrder: older than the series' newest sample, out-of-order ingestion disabled.
	ReasonOutOfOrder = "out_of_order"
	// ReasonDuplicate: same series and timestamp as a stored sample (or one earlier in the same call) with
	// another value.
	ReasonDuplicate = "duplicate"
	// ReasonInvalidSeries: empty or invalid metric name, invalid UTF-8, empty, reserved or repeated label
	// names.
	ReasonInvalidSeries = "invalid_series"
	// ReasonMultiple is the RejectedError.Reason when one call's samples were rejected for several reasons;
	// the metric counts each sample under its own reason.
	ReasonMultiple = "multiple"
	// ReasonFuture: stamped more than Config.MaxFutureSkew ahead of the clock.
	ReasonFuture = store.ReasonFuture
	// ReasonSeriesLimit: would create a series beyond Config.MaxHeadSeries.
	ReasonSeriesLimit = store.ReasonSeriesLimit
)

var allReasons = [...]string{ReasonOutOfBounds, ReasonTooOld, ReasonOutOfOrder, ReasonDuplicate, ReasonInvalidSeries,
	ReasonFuture, ReasonSeriesLimit}

type metrics struct {
	appendDuration  prometheus.Histogram
	samplesAppended prometheus.Counter
	samplesRejected *prometheus.CounterVec
	// futureQuarantined counts samples stamped in the future that Open moved to the quarantine directory.
	futureQuarantined prometheus.Counter
}

// newMetrics creates the store metrics on reg (nil: unregistered collectors that still count).
func newMetrics(reg prometheus.Registerer, headSeries func() uint64) *metrics {
	f := promauto.With(reg)
	constLabels := prometheus.Labels{"backend": "tsdb"}
	m := &metrics{
		appendDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:        "citywatch_store_append_duration_seconds",
			Help:        "Time of one Append call to the store, from the call until the write-ahead log commit.",
			ConstLabels: constLabels,
			Buckets:     []float64{1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.1, 0.5, 1},
		}),
		samplesAppended: f.NewCounter(prometheus.CounterOpts{
			Name:        "citywatch_store_samples_appended_total",
			Help:        "Samples committed to the store.",
			ConstLabels: constLabels,
		}),
		samplesRejected: f.NewCounterVec(prometheus.CounterOpts{
			Name:        "citywatch_store_samples_rejected_total",
			Help:        "Samples the store refused for what they are (too old, duplicate, invalid series), by reason.",
			ConstLabels: constLabels,
		}, []string{"reason"}),
	}
	m.futureQuarantined = f.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_tsdb_future_samples_quarantined_total",
		Help: "Samples stamped beyond the future skew that Open found in the data directory (written by an older version) and moved to the quarantine directory.",
	})
	for _, r := range allReasons {
		m.samplesRejected.WithLabelValues(r)
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_tsdb_head_series",
		Help: "Series in the embedded TSDB's in-memory head block.",
	}, func() float64 { return float64(headSeries()) })
	return m
}

// trackingRegisterer remembers what was registered through it so that everything can be unregistered when the
// DB fails to open or closes; a reopened DB can then register again on the same registry.
type trackingRegisterer struct {
	reg prometheus.Registerer

	mu         sync.Mutex
	collectors []prometheus.Collector
}

func newTrackingRegisterer(reg prometheus.Registerer) *trackingRegisterer {
	return &trackingRegisterer{reg: reg}
}

// Register implements prometheus.Registerer.
func (t *trackingRegisterer) Register(c prometheus.Collector) error {
	if t.reg == nil {
		return nil
	}
	if err := t.reg.Register(c); err != nil {
		return err
	}
	t.mu.Lock()
	t.collectors = append(t.collectors, c)
	t.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (t *trackingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := t.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (t *trackingRegisterer) Unregister(c prometheus.Collector) bool {
	if t.reg == nil {
		return false
	}
	return t.reg.Unregister(c)
}

func (t *trackingRegisterer) unregisterAll() {
	if t.reg == nil {
		return
	}
	t.mu.Lock()
	cs := t.collectors
	t.collectors = nil
	t.mu.Unlock()
	for _, c := range cs {
		t.reg.Unregister(c)
	}
}
