package forward

import (
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestNewMetricsNames pins the names both backends expose (dashboards and docs use them).
func TestNewMetricsNames(t *testing.T) {
	st := Settings{QueueDir: t.TempDir()}
	require.NoError(t, st.ApplyDefaults(Defaults{BatchSize: 10, RetryInitial: time.Second, RetryMax: time.Minute}))
	reg := prometheus.NewRegistry()
	w, err := New(Config{Settings: st, MaxBatchBytes: 1 << 20, Receiver: "test"}, Deps{
		NewMetrics: func(w *Forwarder) Metrics {
			return NewMetrics(promauto.With(reg), MetricsOpts{Prefix: "citywatch_x", Sent: "s", DeadLettered: "d", Up: "u", Pending: "sent"}, w)
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, w.Close()) })
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	sort.Strings(names)
	require.Equal(t, []string{
		"citywatch_x_dead_lettered_samples_total", "citywatch_x_dropped_samples_total",
		"citywatch_x_queue_bytes", "citywatch_x_queue_corrupt_samples_total", "citywatch_x_queue_disk_bytes",
		"citywatch_x_queue_oldest_age_seconds", "citywatch_x_queue_samples", "citywatch_x_retries_total",
		"citywatch_x_sent_samples_total", "citywatch_x_up",
	}, names)
	require.Equal(t, len(RetryReasons), testutil.CollectAndCount(reg, "citywatch_x_retries_total"),
		"every retry reason is exposed from the start")
}
