package live

import (
	"bytes"
	"fmt"
	"net/http"
	"time"
)

// heartbeat keeps idle streams (and the proxies in between) from timing out.
const heartbeat = 15 * time.Second

// Serve streams a subscription as Server-Sent Events until the client leaves: every batch interval, one
// "event: <kind>" message per changed thing with its latest JSON, a "reload" event after an overflow, and a
// comment line as a heartbeat. The browser's EventSource reconnects by itself (retry: 3 s).
func (b *Bus) Serve(w http.ResponseWriter, r *http.Request, visible func(site string) bool) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sub := b.Subscribe(visible)
	defer sub.Close()
	if _, err := fmt.Fprint(w, "retry: 3000\n: connected\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	batch := time.NewTicker(b.cfg.BatchInterval)
	defer batch.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			_ = rc.SetWriteDeadline(time.Time{})
		case <-batch.C:
			events, overflow := sub.Take()
			if len(events) == 0 && !overflow {
				continue
			}
			// The whole batch in one write; a client that stops reading is cut instead of holding this goroutine.
			buf.Reset()
			for _, ev := range events {
				buf.WriteString("event: ")
				buf.WriteString(ev.Kind)
				buf.WriteString("\ndata: ")
				buf.Write(ev.Data)
				buf.WriteString("\n\n")
			}
			if overflow {
				buf.WriteString("event: reload\ndata: {}\n\n")
			}
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := w.Write(buf.Bytes()); err != nil || rc.Flush() != nil {
				return
			}
			_ = rc.SetWriteDeadline(time.Time{}) // the next write sets its own; none while idle
		}
	}
}
