package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// writeTimeout bounds one write to a client: a client that stops reading is cut instead of holding the
// stream's goroutine.
const writeTimeout = 10 * time.Second

// Ping is the data of a "ping" event. A page that has had neither a ping nor another event for two
// IntervalMS calls what it shows stale; Time lets it correct for its own clock's offset when it ticks "last
// seen" ages.
type Ping struct {
	// Time is the server's time when the ping was sent.
	Time time.Time `json:"time"`
	// IntervalMS is the ping interval in milliseconds: the next ping follows within it.
	IntervalMS int64 `json:"interval_ms"`
	// BatchMS is the batch interval in milliseconds: changes arrive at most this late.
	BatchMS int64 `json:"batch_ms"`
	// CurrentAt is when the producer last had every change published (Bus.MarkCurrent). When it lags Time by
	// more than two ping intervals the stream is open but not fed, and what the page shows is stale. Absent
	// when no producer marks the bus.
	CurrentAt *time.Time `json:"current_at,omitempty"`
}

// ErrEvicted is the cause a stream's request context is cancelled with when the server ends the stream to make
// room for a newer one of the same principal (http.limits.max_event_streams_per_principal). Serve then sends an
// "evicted" event, so the page stops reconnecting by itself and falls back to refreshing over REST.
var ErrEvicted = errors.New("live: event stream handed to a newer stream of the same principal")

// evictedMsg is the last message of an evicted stream.
const evictedMsg = "event: evicted\ndata: {}\n\n"

// ping is the "ping" event message for now.
func (b *Bus) ping() []byte {
	p := Ping{Time: b.clk.Now().UTC(), IntervalMS: b.cfg.PingInterval.Milliseconds(), BatchMS: b.cfg.BatchInterval.Milliseconds()}
	if ns := b.current.Load(); ns != 0 {
		at := time.Unix(0, ns).UTC()
		p.CurrentAt = &at
	}
	data, _ := json.Marshal(p) // a struct of times and numbers always encodes
	return fmt.Appendf(nil, "event: ping\ndata: %s\n\n", data)
}

// Serve streams a subscription as Server-Sent Events until the client leaves: at once and then every ping
// interval an "event: ping" message (Ping); every batch interval one "event: <kind>" message per changed
// thing with its latest JSON — or, when the request asks "?batch=1", one "event: batch" message for the
// whole batch (writeBatch) — and a "reload" event after an overflow. The browser's EventSource reconnects
// by itself (retry: 3 s). A stream ended with ErrEvicted as its context's cause ends with an "evicted" event.
func (b *Bus) Serve(w http.ResponseWriter, r *http.Request, visible func(site string) bool) {
	batched := r.URL.Query().Get("batch") == "1"
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sub := b.Subscribe(visible)
	defer sub.Close()
	send := func(p []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(p); err != nil || rc.Flush() != nil {
			return false
		}
		_ = rc.SetWriteDeadline(time.Time{}) // the next write sets its own; none while idle
		return true
	}
	// The first ping right away tells the page the interval to expect and the server's clock.
	if !send(append([]byte("retry: 3000\n: connected\n\n"), b.ping()...)) {
		return
	}
	batch := b.clk.NewTicker(b.cfg.BatchInterval)
	defer batch.Stop()
	ping := b.clk.NewTicker(b.cfg.PingInterval)
	defer ping.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-r.Context().Done():
			if errors.Is(context.Cause(r.Context()), ErrEvicted) {
				send([]byte(evictedMsg))
			}
			return
		case <-ping.C():
			if !send(b.ping()) {
				return
			}
		case <-batch.C():
			events, overflow := sub.Take()
			if len(events) == 0 && !overflow {
				continue
			}
			// The whole batch in one write.
			buf.Reset()
			if batched {
				writeBatch(&buf, events)
			} else {
				for _, ev := range events {
					buf.WriteString("event: ")
					buf.WriteString(ev.Kind)
					buf.WriteString("\ndata: ")
					buf.Write(ev.Data)
					buf.WriteString("\n\n")
				}
			}
			if overflow {
				buf.WriteString("event: reload\ndata: {}\n\n")
			}
			if !send(buf.Bytes()) {
				return
			}
		}
	}
}

// writeBatch writes events as one "batch" message whose data is [[kind, item], ...] in first-change order. A
// browser dispatches every SSE message as an event of its own; at a site's 500 devices a second that
// dispatch, not the parsing, is what a phone's main thread spends the most on, so the dashboard asks for
// whole batches.
func writeBatch(buf *bytes.Buffer, events []Event) {
	if len(events) == 0 {
		return
	}
	buf.WriteString("event: batch\ndata: [")
	for i, ev := range events {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`["`)
		buf.WriteString(ev.Kind) // "device", "camera", "alert": no JSON escaping needed
		buf.WriteString(`",`)
		buf.Write(ev.Data)
		buf.WriteByte(']')
	}
	buf.WriteString("]\n\n")
}
