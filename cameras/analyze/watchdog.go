package analyze

import (
	"os"
	"sync"
	"time"

	"citywatch/internal/clock"
)

// writeWatchdog ends a write to a decoder's stdin that has blocked for the stall timeout on the Analyzer's
// clock: the write returns os.ErrDeadlineExceeded and the decoder is restarted as stalled. It takes the place
// of an OS write deadline, which runs on the real clock whatever clock the Analyzer was given: with the real
// clock it behaves as that deadline did (a write blocked for DecoderStallTimeout fails), and on clock.Fake a
// test decides when a blocked write has waited long enough, so a starved ffmpeg on a loaded machine is not
// killed before it has read anything. One timer per decoder, armed for each write.
type writeWatchdog struct {
	f     *os.File
	clk   clock.Clock
	stall time.Duration

	mu      sync.Mutex
	timer   clock.Timer
	writing bool
	due     time.Time // when the write in progress has waited too long
	expired bool      // a write was ended: the decoder is stalled for good
}

// start watches writes to f (a pipe's write end, so it supports deadlines).
func (w *writeWatchdog) start(f *os.File, clk clock.Clock, stall time.Duration) {
	w.f, w.clk, w.stall = f, clk, stall
}

// write writes b whole, or fails when the process is gone or the write blocked for the stall timeout
// (os.ErrDeadlineExceeded, also for a write that completed as it was ended, and for every write after it).
func (w *writeWatchdog) write(b []byte) error {
	w.mu.Lock()
	w.writing, w.due = true, w.clk.Now().Add(w.stall)
	if w.timer == nil {
		// Made at the first write, not armed and stopped at start: that left a moment in which the clock
		// counted a waiter no write had armed, and a test stepping the clock once it saw one could step it
		// before the write armed its own (TestStalledWriteEndsOnTheClock failed so, 1 in a few runs).
		w.timer = w.clk.AfterFunc(w.stall, w.expire)
	} else {
		w.timer.Reset(w.stall)
	}
	w.mu.Unlock()
	_, err := w.f.Write(b)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writing = false
	w.timer.Stop()
	if w.expired {
		return os.ErrDeadlineExceeded
	}
	return err
}

// expire ends the write in progress if it is due. A timer that fired as its write returned (the real clock
// calls expire in its own goroutine) finds no write, or a later write not yet due, and does nothing.
func (w *writeWatchdog) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.writing || w.clk.Now().Before(w.due) {
		return
	}
	w.expired = true
	_ = w.f.SetWriteDeadline(time.Unix(1, 0)) // in the past: the blocked write returns os.ErrDeadlineExceeded
}

// stop disarms the watchdog for good.
func (w *writeWatchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}
