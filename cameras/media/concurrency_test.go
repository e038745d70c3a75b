package media

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/internal/testenv"
)

// TestConcurrentUse runs every entry point at once while frames arrive, then closes: under -race this
// finds data races and lock-order deadlocks; goleak (TestMain) finds goroutines Close left behind.
func TestConcurrentUse(t *testing.T) {
	ff := testenv.LookPath(t, "ffmpeg")
	m, _ := newTestMedia(t, func(c *Config) { c.FFmpegPath = ff; c.Cameras[0].PostSeconds = 1 })
	srv := liveServer(t, m)
	p := newPlayer(loadClip(t, "clip.h264", cameras.CodecH264))
	p.feed(m, "cam1", clipFPS)

	stop := make(chan struct{})
	// stopped ends the requests still waiting when the frames stop: the client gives up, the server did no wrong.
	stopped, giveUp := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 20 * clipFPS {
			m.OnAccessUnit("cam1", p.next())
			time.Sleep(time.Millisecond)
		}
		close(stop)
		giveUp()
	})
	loop := func(f func()) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					f()
				}
			}
		})
	}
	loop(func() {
		if _, err := m.StartClip("cam1", "motion", time.Now()); err != nil {
			t.Error(err)
		}
		m.Clips("cam1")
		_, _ = m.Ring("cam1")
		time.Sleep(5 * time.Millisecond)
	})
	loop(func() {
		// A hang guard, not a latency bound. On a loaded machine one ffmpeg decode took over 5 s, then over
		// SnapshotTimeout (make stress): a snapshot that runs out of its time is the bound working, not a race.
		ctx, cancel := context.WithTimeout(stopped, time.Minute)
		defer cancel()
		_, _, err := m.Snapshot(ctx, "cam1")
		if err != nil && stopped.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Error(err)
		}
	})
	loop(func() {
		conn, resp, err := websocket.DefaultDialer.Dial("ws"+srv.URL[len("http"):]+"/live/cam1", nil)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		for range 3 {
			if _, _, err := conn.ReadMessage(); err != nil {
				break
			}
		}
		conn.Close()
	})
	wg.Wait()
	m.Close()
	require.NotEmpty(t, m.Clips("cam1"))
}
