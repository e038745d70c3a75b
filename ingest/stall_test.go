package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// TestPipelineStatusStalled: the status the IngestStalled rule reads says how long messages have been arriving
// without being stored, whether the store refuses or fails every write; a quiet device is not a stall.
func TestPipelineStatusStalled(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"store refuses", &store.RejectedError{Count: 1, Reason: "too_old", Err: errors.New("too old")}},
		{"store fails", errors.New("disk full")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := &fakeAppender{}
			p, _, clock := newTestPipeline(t, PipelineConfig{}, app)
			assert.Zero(t, p.Status().Stalled, "nothing expected yet")
			require.NoError(t, p.Handle(context.Background(), Message{Topic: "city/d/s/x", Payload: []byte("v=1"), Received: clock.Now()}))
			clock.Advance(time.Minute)
			st := p.Status()
			assert.Zero(t, st.Stalled, "a quiet device is not a stall: device silence is the device rules' job")
			assert.Equal(t, 1, st.Devices)

			app.mu.Lock()
			app.err = tc.err
			app.mu.Unlock()
			for range 3 {
				clock.Advance(time.Minute)
				_ = p.Handle(context.Background(), Message{Topic: "city/d/s/x", Payload: []byte("v=2"), Received: clock.Now()})
			}
			assert.Equal(t, 2*time.Minute, p.Status().Stalled, "since the first message that was not stored")

			app.mu.Lock()
			app.err = nil
			app.mu.Unlock()
			require.NoError(t, p.Handle(context.Background(), Message{Topic: "city/d/s/x", Payload: []byte("v=3"), Received: clock.Now()}))
			assert.Zero(t, p.Status().Stalled)
		})
	}
}

// TestPipelineRunReportsStatus: Run reports the status every export interval, also when the store fails.
func TestPipelineRunReportsStatus(t *testing.T) {
	app := &fakeAppender{err: errors.New("disk full")}
	var mu sync.Mutex
	var got []Status
	p, err := NewPipeline(PipelineConfig{DeviceExportInterval: 5 * time.Millisecond},
		PipelineDeps{Mapper: fakeMapper{}, Appender: app, OnStatus: func(s Status) {
			mu.Lock()
			got = append(got, s)
			mu.Unlock()
		}})
	require.NoError(t, err)
	require.Error(t, p.Handle(context.Background(), Message{Topic: "city/d/s/x", Payload: []byte("v=1"), Received: time.Now()}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2 && got[len(got)-1].Stalled > 0
	}, 10*time.Second, 5*time.Millisecond, "a failing store is reported as a stall")
	cancel()
	require.NoError(t, <-done)
}
