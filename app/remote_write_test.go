package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/config"
	"citywatch/store"
)

// TestRemoteWriteWiring: storage.remote_write is a secondary of the store fan-out with the edge's labels, and
// an endpoint that fails shows in /readyz as degraded (not unready) until it recovers and the queue drains.
func TestRemoteWriteWiring(t *testing.T) {
	var up atomic.Bool
	var mu sync.Mutex
	var got []prompb.TimeSeries
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		var req prompb.WriteRequest
		if err == nil {
			err = req.Unmarshal(raw)
		}
		if err != nil {
			t.Errorf("decode: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, req.Timeseries...)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Edge.Name, cfg.Edge.Site = "edge-x", "site-x"
	rw := config.DefaultRemoteWrite()
	rw.Name, rw.URL = "centre", srv.URL+"/api/v1/write"
	rw.FlushInterval, rw.MinBackoff, rw.MaxBackoff = config.Duration(20*time.Millisecond), config.Duration(10*time.Millisecond), config.Duration(50*time.Millisecond)
	cfg.Storage.RemoteWrite = []config.RemoteWriteConfig{rw}
	require.NoError(t, cfg.Complete())
	require.Equal(t, filepath.Join(dir, "remote-write", "centre"), cfg.Storage.RemoteWrite[0].Queue.Dir)

	const token = "app-test-admin-token-0123456789"
	a := runApp(t, cfg, Options{PasswordHashing: testHashing, AdminToken: token})
	ctx := t.Context()

	now := time.Now().UnixMilli()
	require.NoError(t, a.appender.Append(ctx, []store.Sample{
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "s1"}, {Name: "site", Value: "site-a"}}, T: now, V: 21.5},
		{Name: "humidity", Labels: []store.Label{{Name: "device", Value: "s1"}}, T: now, V: 40},
	}))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r, err := getReadyz(a.HTTPAddr(), token)
		if assert.NoError(c, err) {
			assert.Equal(c, http.StatusOK, r.code, "a failing uplink degrades, it does not make the edge unready")
			assert.Contains(c, r.Checks["remote_write_centre"], "unreachable", r.raw)
			assert.Contains(c, r.Checks["remote_write_centre"], "2 samples queued", r.raw)
		}
	}, 30*time.Second, 20*time.Millisecond)

	up.Store(true)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	}, 30*time.Second, 10*time.Millisecond)
	mu.Lock()
	series := map[string]map[string]string{}
	for _, ts := range got {
		ls := map[string]string{}
		for _, l := range ts.Labels {
			ls[l.Name] = l.Value
		}
		series[ls["__name__"]] = ls
	}
	mu.Unlock()
	require.Equal(t, map[string]string{"__name__": "temperature", "device": "s1", "edge": "edge-x", "site": "site-a"}, series["temperature"],
		"the sample's own site is kept")
	require.Equal(t, map[string]string{"__name__": "humidity", "device": "s1", "edge": "edge-x", "site": "site-x"}, series["humidity"])
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r, err := getReadyz(a.HTTPAddr(), token)
		if assert.NoError(c, err) {
			assert.Equal(c, "ok", r.Checks["remote_write_centre"], r.raw)
		}
	}, 30*time.Second, 20*time.Millisecond)
}
