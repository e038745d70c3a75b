package app

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/config"
	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
)

// counter is a webhook receiver that counts what it gets.
func counter(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func reloadCamera(id, url string) config.CameraConfig {
	c := config.DefaultCamera()
	c.ID, c.Site, c.URL, c.Transport = id, "site-a", url, config.TransportTCP
	return c
}

func reloadSource(name, url string) config.SourceConfig {
	s := config.DefaultSource()
	s.Name, s.URL, s.ClientID = name, url, "citywatch-"+name
	return s
}

func reloadReceiver(url string) config.ReceiverConfig {
	r := config.DefaultReceiver()
	r.Name, r.URL, r.AllowPrivate = "oncall", config.Secret(url), true
	return r
}

// TestReloadRecreatesOnlyWhatChanged: SIGHUP's Reload adds, removes and changes cameras, external sources and
// receivers while citywatch runs; what did not change keeps running untouched.
func TestReloadRecreatesOnlyWhatChanged(t *testing.T) {
	sim := simtest.Start(t, camerasim.Config{Cameras: 3})
	broker := testenv.Mosquitto(t)
	oldHook, oldHits := counter(t)
	newHook, newHits := counter(t)

	cfg := testConfig(t, t.TempDir())
	cfg.Cameras = []config.CameraConfig{reloadCamera("keep", sim.URL(1)), reloadCamera("drop", sim.URL(2))}
	cfg.Ingest.Sources = []config.SourceConfig{reloadSource("s-keep", broker.URL), reloadSource("s-drop", broker.URL)}
	cfg.Notify.Receivers, cfg.Notify.DefaultReceiver = []config.ReceiverConfig{reloadReceiver(oldHook.URL)}, "oncall"
	require.NoError(t, cfg.Validate())
	a, err := New(cfg, Options{PasswordHashing: testHashing})
	require.NoError(t, err)
	stop := startRunning(t, a)
	t.Cleanup(func() { require.NoError(t, stop()) })
	online := func(id string) func() bool {
		return func() bool { st, err := a.cams.Camera(id); return err == nil && st.State == cameras.StateOnline }
	}
	require.Eventually(t, online("keep"), waitFor, pollEvery)
	require.Eventually(t, online("drop"), waitFor, pollEvery)
	keepCam, _ := a.cams.Camera("keep")
	keepSource := a.externals[0]
	require.Eventually(t, keepSource.Connected, waitFor, pollEvery)

	next := *cfg
	next.Cameras = []config.CameraConfig{reloadCamera("keep", sim.URL(1)), reloadCamera("added", sim.URL(3))}
	next.Ingest.Sources = []config.SourceConfig{reloadSource("s-keep", broker.URL), reloadSource("s-added", broker.URL)}
	next.Notify.Receivers = []config.ReceiverConfig{reloadReceiver(newHook.URL)}
	require.NoError(t, a.Reload(&next))

	// Cameras: the unchanged one goes on in the same session; the removed one is gone; the added one starts.
	_, err = a.cams.Camera("drop")
	require.ErrorIs(t, err, cameras.ErrCameraNotFound)
	require.Eventually(t, online("added"), waitFor, pollEvery)
	st, err := a.cams.Camera("keep")
	require.NoError(t, err)
	require.Equal(t, cameras.StateOnline, st.State)
	require.Equal(t, keepCam.Since, st.Since, "the unchanged camera kept its session")
	require.Zero(t, st.Reconnects)

	// Sources: the unchanged one keeps its connection (same instance); the added one connects.
	a.running.mu.Lock()
	require.Len(t, a.externals, 2)
	require.Same(t, keepSource, a.externals[0])
	added := a.externals[1]
	a.running.mu.Unlock()
	require.Equal(t, "s-added", added.Status().Name)
	require.Eventually(t, added.Connected, waitFor, pollEvery)
	var names []string
	for _, c := range a.sourceChecks() {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"source_s-keep", "source_s-added"}, names)

	// Receivers: the changed one takes its new URL.
	require.NoError(t, a.outbox.SendDirect(context.Background(), "oncall", notify.Change{Fingerprint: "reload-test", Name: "ReloadTest",
		State: "firing", Value: math.NaN(), StartsAt: time.Now(), Labels: map[string]string{"alertname": "ReloadTest"}}))
	require.Equal(t, int32(1), newHits.Load())
	require.Zero(t, oldHits.Load())

	// The running configuration says what is in force.
	require.Contains(t, a.runningConfig(), "added")
	require.NotContains(t, a.runningConfig(), "s-drop")
}

// TestReloadSignalIsOwnedByRun: the reload goroutine is a component of the runner: a signal on
// Options.ReloadSignals loads and applies the configuration, a bad file is refused and the running one stays,
// and Run returns only after the goroutine has ended.
func TestReloadSignalIsOwnedByRun(t *testing.T) {
	hook, hits := counter(t)
	cfg := testConfig(t, t.TempDir())
	next := *cfg
	r := reloadReceiver(hook.URL)
	r.Name = "pager"
	next.Notify.Receivers, next.Notify.DefaultReceiver = []config.ReceiverConfig{r}, "pager"
	require.NoError(t, next.Validate())
	hup := make(chan os.Signal, 1)
	var loads atomic.Int32
	a, err := New(cfg, Options{PasswordHashing: testHashing, ReloadSignals: hup, ReloadConfig: func() (*config.Config, error) {
		if loads.Add(1) == 1 {
			return nil, errors.New("citywatch.yaml:3: notify.receivers[0].url: is required")
		}
		return &next, nil
	}})
	require.NoError(t, err)
	stop := startRunning(t, a)

	hup <- syscall.SIGHUP
	require.Eventually(t, func() bool { return loads.Load() == 1 }, waitFor, pollEvery)
	require.NotContains(t, a.runningConfig(), "pager", "a bad file changes nothing")
	hup <- syscall.SIGHUP
	require.Eventually(t, func() bool { return strings.Contains(a.runningConfig(), "pager") }, waitFor, pollEvery)
	require.NoError(t, a.outbox.SendDirect(context.Background(), "pager", notify.Change{Fingerprint: "hup", Name: "Hup", State: "firing",
		Value: math.NaN(), StartsAt: time.Now()}))
	require.Equal(t, int32(1), hits.Load())
	require.NoError(t, stop())
}
