package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/internal/testenv"
)

// trace records what the test components did, in order.
type trace struct{ testenv.Log[string] }

// part is a Start/Close component that records its calls; startErr fails its Start.
func (t *trace) part(name string, startErr error) component {
	return startClose(name, func() error {
		t.Add("start " + name)
		return startErr
	}, func() error {
		t.Add("close " + name)
		return nil
	})
}

// loop is a Run(ctx) component that records its start and its return.
func (t *trace) loop(name string, fail <-chan error) component {
	return runFunc(name, func(ctx context.Context) error {
		t.Add("run " + name)
		defer t.Add("return " + name)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-fail:
			return err
		}
	})
}

func TestRunnerStartsInOrderAndStopsInReverse(t *testing.T) {
	var tr trace
	r := &runner{}
	r.add(tr.part("stores", nil), tr.part("outbox", nil), tr.part("broker", nil), tr.part("http", nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return len(tr.All()) == 4 }, waitFor, pollEvery)
	require.Equal(t, []string{"start stores", "start outbox", "start broker", "start http"}, tr.All())
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, []string{"start stores", "start outbox", "start broker", "start http",
		"close http", "close broker", "close outbox", "close stores"}, tr.All())
}

func TestRunnerFailingComponentStopsTheOthersAndReturnsItsError(t *testing.T) {
	var tr trace
	boom := errors.New("alert store gone")
	fail := make(chan error, 1)
	r := &runner{}
	r.add(tr.part("stores", nil), tr.loop("alerts", fail), tr.part("http", nil))
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	require.Eventually(t, func() bool { return slices.Contains(tr.All(), "start http") }, waitFor, pollEvery)
	fail <- boom
	err := <-done
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "alerts: alert store gone")
	log := tr.All()
	require.Equal(t, []string{"return alerts", "close http", "close stores"}, log[len(log)-3:])
}

func TestRunnerLaterStartFailureStopsTheStartedOnes(t *testing.T) {
	var tr trace
	bad := errors.New("listen tcp: address already in use")
	r := &runner{}
	r.add(tr.part("stores", nil), tr.loop("pipeline", nil), tr.part("broker", bad), tr.part("http", nil))
	err := r.Run(context.Background())
	require.ErrorIs(t, err, bad)
	require.True(t, strings.HasPrefix(err.Error(), "broker: "), err.Error())
	// The broker's Close runs after its failed Start (it may hold half of what it took); http never starts.
	// (A Run component's own goroutine may begin at any time after it is launched: "run pipeline" is left out.)
	log := slices.DeleteFunc(tr.All(), func(s string) bool { return s == "run pipeline" })
	require.Equal(t, []string{"start stores", "start broker", "close broker", "return pipeline", "close stores"}, log)
}

func TestRunnerJoinsStopErrors(t *testing.T) {
	e1, e2 := errors.New("tsdb: close"), errors.New("influx: flush")
	var tr trace
	r := &runner{}
	r.add(closeOnly("stores", func() error { return e1 }), closeOnly("influx", func() error { return e2 }), tr.part("http", nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return slices.Contains(tr.All(), "start http") }, waitFor, pollEvery)
	cancel()
	err := <-done
	require.ErrorIs(t, err, e1)
	require.ErrorIs(t, err, e2)
	require.Equal(t, "stores: tsdb: close\ninflux: influx: flush", err.Error())
}

func TestRunnerCancelledBeforeRunStartsNothing(t *testing.T) {
	var tr trace
	r := &runner{}
	r.add(tr.part("stores", nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, r.Run(ctx))
	require.Empty(t, tr.All())
}

func TestRunnerComponentReturningNilOnItsOwnEndsTheGroup(t *testing.T) {
	var tr trace
	r := &runner{}
	r.add(tr.part("stores", nil), runFunc("quitter", func(context.Context) error { return nil }), tr.part("http", nil))
	err := r.Run(context.Background())
	require.ErrorContains(t, err, "quitter stopped on its own")
	require.Equal(t, "close stores", tr.All()[len(tr.All())-1])
}

// waitFor bounds the polls of these tests; pollEvery is their step.
const (
	waitFor   = 10 * time.Second
	pollEvery = 5 * time.Millisecond
)

func TestRunnerSpawnsWaitsForTheGoroutines(t *testing.T) {
	var tr trace
	r := &runner{}
	r.add(tr.part("stores", nil), spawns("ward", func(ctx context.Context, wg *sync.WaitGroup) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			tr.Add("ward goroutine done")
		}()
	}), tr.part("http", nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return slices.Contains(tr.All(), "start http") }, waitFor, pollEvery)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, []string{"close http", "ward goroutine done", "close stores"}, tr.All()[2:])
}
