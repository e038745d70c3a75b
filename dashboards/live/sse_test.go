package live

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

// openStream is openStreamQuery without a query.
func openStream(t *testing.T, b *Bus) *bufio.Reader {
	t.Helper()
	return openStreamQuery(t, b, "")
}

// sseMessage is one Server-Sent Events message: its event name and data lines.
type sseMessage struct{ event, data string }

// readMessage reads the stream up to the end of the next message with an event name (comments and bare
// fields such as retry: are skipped).
func readMessage(t *testing.T, r *bufio.Reader) sseMessage {
	t.Helper()
	var m sseMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && m.event != "":
			return m
		case strings.HasPrefix(line, "event: "):
			m.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			m.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// TestServePing: the stream opens with a named ping event and repeats it every ping interval, with the
// server's time and the intervals in its data, so a page can tell a live stream from a frozen one (a comment
// line, the old heartbeat, is invisible to EventSource). Once the producer marks the bus current, the pings
// say since when.
func TestServePing(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 50, 0, 0, time.UTC)
	b := New(Config{BatchInterval: time.Hour, PingInterval: 10 * time.Millisecond, Now: func() time.Time { return now }}, nil)
	r := openStream(t, b)
	want := sseMessage{event: "ping", data: `{"time":"2026-12-07T06:50:00Z","interval_ms":10,"batch_ms":3600000}`}
	for i := 0; i < 3; i++ {
		if m := readMessage(t, r); m != want {
			t.Fatalf("message %d is %+v, want %+v", i, m, want)
		}
	}
	b.MarkCurrent()
	want.data = `{"time":"2026-12-07T06:50:00Z","interval_ms":10,"batch_ms":3600000,"current_at":"2026-12-07T06:50:00Z"}`
	// A ping already on its way may predate the mark; the one after it carries it.
	for i := 0; ; i++ {
		m := readMessage(t, r)
		if m == want {
			break
		}
		if i >= 2 || m.event != "ping" {
			t.Fatalf("after MarkCurrent: message %+v, want %+v", m, want)
		}
	}
}

// TestPingDefaults: a bus configured without a ping interval pings every DefaultPingInterval.
func TestPingDefaults(t *testing.T) {
	if got := New(Config{}, nil).PingInterval(); got != DefaultPingInterval {
		t.Fatalf("PingInterval() = %v, want %v", got, DefaultPingInterval)
	}
}
