package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"citywatch/alerts"
	"citywatch/config"
)

// startApp runs an app on :0 ports with the test configuration until the test ends.
func startApp(t *testing.T) *App {
	t.Helper()
	return runApp(t, testConfig(t, t.TempDir()), Options{PasswordHashing: testHashing})
}

// runApp builds an app from cfg and runs it until the test ends: it returns once the app has started, and the
// test's cleanup stops it and checks that Run returned nil within 30 s.
func runApp(t *testing.T, cfg *config.Config, opts Options) *App {
	t.Helper()
	a, err := New(cfg, opts)
	require.NoError(t, err)
	stop := startRunning(t, a)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a
}

// startRunning runs a and returns once it has started; the test fails when run returns first. stop cancels the
// run and returns what run returned, or an error when it does not return within 30 s. Both must be called from
// the test goroutine.
func startRunning(t *testing.T, a *App) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- a.run(ctx, started) }()
	select {
	case <-started:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("run did not return within 30 s after cancel")
		}
	}
}

// countSamples returns the number of stored samples of metric for device, -1 when the query fails. It may run
// outside the test goroutine (require.Eventually).
func countSamples(a *App, metric, device string) int {
	q, err := a.db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return -1
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil,
		labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, metric),
		labels.MustNewMatcher(labels.MatchEqual, "device", device))
	n := 0
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			n++
		}
	}
	if set.Err() != nil {
		return -1
	}
	return n
}

func mqttClient(t *testing.T, a *App, id string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + a.BrokerAddr()).SetClientID(id).
		SetConnectTimeout(10 * time.Second).SetAutoReconnect(false).SetMaxResumePubInFlight(1000)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestBurstThroughBrokerKeepsEveryReading publishes 500 messages without a timestamp to one topic as fast as the
// client sends them (as mosquitto_pub -l does); many arrive in the same millisecond, and all 500 must be stored.
func TestBurstThroughBrokerKeepsEveryReading(t *testing.T) {
	a := startApp(t)
	c := mqttClient(t, a, "burst")
	const n = 500
	toks := make([]mqtt.Token, 0, n)
	for i := range n {
		toks = append(toks, c.Publish("city/d1/siteA/burst", 1, false, fmt.Sprintf(`{"heart_rate":%d}`, i)))
	}
	for _, tok := range toks {
		require.True(t, tok.WaitTimeout(30*time.Second))
		require.NoError(t, tok.Error())
	}
	require.Eventually(t, func() bool { return countSamples(a, "heart_rate", "burst") == n }, 30*time.Second,
		20*time.Millisecond, "every reading of the burst is stored")
}

// TestFutureMessageThroughBrokerStopsNothing: after a message stamped 30 days ahead, current readings of another
// device are stored.
func TestFutureMessageThroughBrokerStopsNothing(t *testing.T) {
	a := startApp(t)
	c := mqttClient(t, a, "future")
	future := time.Now().Add(30 * 24 * time.Hour).UnixMilli()
	for _, m := range []struct{ topic, payload string }{
		{"city/d1/siteA/evil", fmt.Sprintf(`{"body_temperature":36.6,"ts":%d}`, future)},
		{"city/d1/siteA/evil", `{"body_temperature":36.6,"ts":"9999-12-31T23:59:59Z"}`},
		{"city/d2/siteB/good", `{"body_temperature":36.7}`},
	} {
		tok := c.Publish(m.topic, 1, false, m.payload)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	require.Eventually(t, func() bool { return countSamples(a, "body_temperature", "good") == 1 }, 30*time.Second,
		20*time.Millisecond)
	require.Zero(t, countSamples(a, "body_temperature", "evil"))
}

// TestSeriesLimitAlertFires: a device inventing field names hits the per-device series limit; the rejections reach
// the built-in IngestSeriesLimit rule through in-process events, and its existing series keep flowing.
func TestSeriesLimitAlertFires(t *testing.T) {
	a := startApp(t)
	names := map[string]bool{}
	for _, r := range a.alerts.Rules() {
		names[r.Rule.Alert] = true
	}
	require.True(t, names["IngestStalled"], "built-in IngestStalled is loaded with the default pack")
	require.True(t, names["IngestSeriesLimit"])

	c := mqttClient(t, a, "leaky")
	for i := range 3 {
		payload := `{"temperature":20`
		for k := range 100 {
			payload += fmt.Sprintf(`,"f%d_%d":1`, i, k)
		}
		tok := c.Publish("city/d1/siteA/leaky", 1, false, payload+"}")
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	require.Eventually(t, func() bool {
		as, err := a.alerts.Alerts(context.Background(), alerts.AlertFilter{})
		if err != nil {
			return false
		}
		for _, al := range as {
			if al.Rule == "IngestSeriesLimit" && al.Labels["reason"] == "series_limit" {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "IngestSeriesLimit fires")
	require.Equal(t, 3, countSamples(a, "temperature", "leaky"), "the existing series keeps flowing")
}
