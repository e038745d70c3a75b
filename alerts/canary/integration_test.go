package canary

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/store/tsdb"
)

// TestRoundWithRealAlerting runs rounds against the real pieces: the embedded TSDB, the alert manager
// evaluating Rule(), and the durable outbox delivering to a webhook. Four rounds pass (the first round's
// alert resolves so the second fires a new one); with the receiver failing, a round fails and the fallback
// is told.
func TestRoundWithRealAlerting(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	dir := t.TempDir()
	db, err := tsdb.Open(tsdb.Config{Dir: filepath.Join(dir, "tsdb")}, tsdb.Deps{})
	require.NoError(t, err)
	defer db.Close()
	meta, err := notify.OpenDB(filepath.Join(dir, "citywatch.db"))
	require.NoError(t, err)
	defer meta.Close()
	o, err := notify.NewOutbox(notify.Config{Receivers: []notify.Receiver{{Name: "hook", URL: srv.URL, AllowPrivate: true}},
		DefaultReceiver: "hook", PollInterval: 20 * time.Millisecond}, notify.Deps{DB: meta})
	require.NoError(t, err)
	require.NoError(t, o.Start())
	defer o.Close()
	m, err := alerts.New(alerts.Config{EvalInterval: 100 * time.Millisecond, Rules: []alerts.Rule{Rule()},
		Grouping: alerts.Grouping{GroupWait: -1, GroupInterval: -1, RepeatInterval: time.Hour}},
		alerts.Deps{Queryable: db, DB: meta, Outbox: o})
	require.NoError(t, err)
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = m.Run(ctx)
	}()
	defer func() { cancel(); wg.Wait() }()

	fb := &fakeNotifier{}
	c, err := New(Config{Enabled: true, Interval: time.Minute, Timeout: 20 * time.Second, PollInterval: 20 * time.Millisecond,
		FallbackReceiver: "oncall"}, Deps{Appender: db, Alerts: ManagerAlerts(m), Deliveries: o, Fallback: fb})
	require.NoError(t, err)

	noneFiring := func() bool {
		list, err := m.Alerts(context.Background(), alerts.AlertFilter{State: alerts.StateFiring})
		require.NoError(t, err)
		return len(list) == 0
	}
	// Four rounds: more than flap detection's default 3 fires, which the canary's rule turns off.
	for round := 0; round < 4; round++ {
		require.NoError(t, c.Round(ctx), "round %d", round)
		require.Equal(t, 1.0, testutil.ToFloat64(c.ok))
		// Between rounds (a minute in production) the alert resolves.
		require.Eventually(t, noneFiring, 20*time.Second, 20*time.Millisecond)
	}
	require.Equal(t, 0, fb.count())

	healthy.Store(false)
	c.cfg.Timeout = 2 * time.Second
	require.ErrorContains(t, c.Round(ctx), "no notification")
	require.Equal(t, 0.0, testutil.ToFloat64(c.ok))
	require.Equal(t, 1, fb.count())
}
