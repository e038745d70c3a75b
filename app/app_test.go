package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"citywatch/config"
	"citywatch/internal/testenv"
)

func testConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Broker.Listen = "127.0.0.1:0"
	cfg.Broker.AllowAnonymous = true
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRunServesAndStops: the app starts on :0 ports, answers /healthz and /metrics, and Run returns once the
// context ends, releasing the data directory for the next instance.
func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	const token = "app-test-admin-token-0123456789"
	a, err := New(testConfig(t, dir), Options{PasswordHashing: testHashing, AdminToken: token})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunning(t, a)
	req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr()+"/metrics", nil)
	anon, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	anon.Body.Close()
	if anon.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous /metrics: %d, want 401", anon.StatusCode)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"citywatch_ingest_rejected_total", "citywatch_tsdb_head_series", "citywatch_broker_clients_connected", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if a.BrokerAddr() == "" {
		t.Error("no broker address")
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	b, err := New(testConfig(t, dir), Options{PasswordHashing: testHashing})
	if err != nil {
		t.Fatalf("the data directory was not released: %v", err)
	}
	_ = b.closeStores()
}

// TestSecondInstanceOnSameDataDir fails at New with a message that names the directory.
func TestSecondInstanceOnSameDataDir(t *testing.T) {
	dir := t.TempDir()
	a, err := New(testConfig(t, dir), Options{PasswordHashing: testHashing})
	if err != nil {
		t.Fatal(err)
	}
	defer a.closeStores()
	_, err = New(testConfig(t, dir), Options{PasswordHashing: testHashing})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "tsdb")) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second instance: %v", err)
	}
}

// TestCanaryOK: with the canary on, a synthetic sample becomes a firing alert and a delivery to the receiver,
// and citywatch_canary_ok reports 1.
func TestCanaryOK(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	cfg := testConfig(t, t.TempDir())
	cfg.Alerts.EvalInterval = config.Duration(time.Second)
	cfg.Alerts.GroupWait = 0
	cfg.Alerts.GroupInterval = config.Duration(time.Second)
	r := config.DefaultReceiver()
	r.Name, r.URL, r.AllowPrivate = "oncall", config.Secret(srv.URL), true
	cfg.Notify.Receivers = []config.ReceiverConfig{r}
	cfg.Notify.DefaultReceiver = "oncall"
	cfg.Alerts.Canary = config.CanaryConfig{Enabled: true, Interval: config.Duration(8 * time.Second),
		Timeout: config.Duration(7 * time.Second), FallbackReceiver: "oncall"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{PasswordHashing: testHashing})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() string {
		mfs, _ := a.Registry().Gather()
		for _, mf := range mfs {
			if mf.GetName() == "citywatch_canary_ok" && mf.GetMetric()[0].GetGauge().GetValue() == 1 {
				return ""
			}
		}
		return fmt.Sprintf("citywatch_canary_ok is not 1 (%d deliveries)", hits.Load())
	})
	if hits.Load() == 0 {
		t.Fatal("canary ok without a delivery to the receiver")
	}
}
