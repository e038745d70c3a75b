package testenv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricSum: counters and gauges are summed over their label values; a vector without children yet (which
// the registry does not gather) sums to 0.
func TestMetricSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total"}, []string{"k"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	reg.MustRegister(c, g)
	c.WithLabelValues("a").Add(2)
	c.WithLabelValues("b").Add(3)
	g.Set(-1.5)
	if got := MetricSum(t, reg, "c_total"); got != 5 {
		t.Errorf("c_total: %v, want 5", got)
	}
	if got := MetricSum(t, reg, "g"); got != -1.5 {
		t.Errorf("g: %v, want -1.5", got)
	}
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "empty_total"}, []string{"k"}))
	if got := MetricSum(t, reg, "empty_total"); got != 0 {
		t.Errorf("a vector without children: %v, want 0", got)
	}
}
