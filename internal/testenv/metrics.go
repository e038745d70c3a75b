package testenv

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricSum returns the sum of the counter and gauge samples of the metric family name in g (all its label
// values); a family g gathers no sample of (a vector none of whose children exist yet) sums to 0. A gather
// error is a test error, and the sum is then -1. It uses only t.Errorf, so a condition polled from another
// goroutine (require.Eventually) may call it.
func MetricSum(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Errorf("gather %s: %v", name, err)
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return sum
	}
	return 0
}
