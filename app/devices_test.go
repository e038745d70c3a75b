package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/ingest"
)

// deviceByID returns the registry's device id, or ok false.
func deviceByID(a *App, id string) (ingest.Device, bool) {
	for _, d := range a.pipeline.Devices() {
		if d.ID == id {
			return d, true
		}
	}
	return ingest.Device{}, false
}

// TestRestartKeepsDeviceRegistry runs citywatch, publishes through its broker, stops it gracefully and starts
// it again on the same data directory: the device's first seen, message count and last values are there
// before any new message, and counting goes on from them.
func TestRestartKeepsDeviceRegistry(t *testing.T) {
	dir := t.TempDir()
	const token = "app-test-admin-token-devices-0123"
	const id = "d1/siteA/keeper"
	start := func() (*App, func() error) {
		a, err := New(testConfig(t, dir), Options{PasswordHashing: testHashing, AdminToken: token})
		require.NoError(t, err)
		return a, startRunning(t, a)
	}
	publish := func(a *App, n, from int) {
		c := mqttClient(t, a, fmt.Sprintf("keeper-%d", from))
		for i := range n {
			tok := c.Publish("city/d1/siteA/keeper", 1, false, fmt.Sprintf(`{"temperature":%d}`, from+i))
			require.True(t, tok.WaitTimeout(10*time.Second))
			require.NoError(t, tok.Error())
		}
		c.Disconnect(100)
	}
	messages := func(a *App) uint64 {
		d, _ := deviceByID(a, id)
		return d.Messages
	}

	a, stop := start()
	publish(a, 3, 0)
	require.Eventually(t, func() bool { return messages(a) == 3 }, 30*time.Second, 10*time.Millisecond)
	before, _ := deviceByID(a, id)
	require.NoError(t, stop())

	b, stop := start()
	defer func() { require.NoError(t, stop()) }()
	after, ok := deviceByID(b, id)
	require.True(t, ok, "the device is known after the restart, before any new message")
	require.Equal(t, before.FirstSeen, after.FirstSeen)
	require.Equal(t, before.LastSeen, after.LastSeen)
	require.Equal(t, uint64(3), after.Messages)
	require.Equal(t, 2.0, after.LastValues["temperature"])
	require.Equal(t, before.Labels, after.Labels)

	publish(b, 1, 10)
	require.Eventually(t, func() bool { return messages(b) == 4 }, 30*time.Second, 10*time.Millisecond)
	again, _ := deviceByID(b, id)
	require.Equal(t, before.FirstSeen, again.FirstSeen, "first seen survives")

	// /api/devices reports the registry's bound, policy and persistence to a caller who sees every site.
	req, _ := http.NewRequest("GET", "http://"+b.HTTPAddr()+"/api/devices", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Devices  []ingest.Device        `json:"devices"`
		Registry *ingest.RegistryStatus `json:"registry"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Len(t, body.Devices, 1)
	require.NotNil(t, body.Registry)
	require.Equal(t, ingest.RegistryStatus{Devices: 1, MaxDevices: 100000, Policy: ingest.RegistryPolicy,
		Persisted: true, LastSave: body.Registry.LastSave}, *body.Registry)
}
