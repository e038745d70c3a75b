package live

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"citywatch/internal/clock"
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
	clk := clock.NewFake(time.Date(2026, 12, 7, 6, 50, 0, 0, time.UTC))
	b := New(Config{BatchInterval: time.Hour, PingInterval: time.Second}, Deps{Clock: clk})
	r := openStream(t, b)
	ping := func(data string) sseMessage { return sseMessage{event: "ping", data: data} }
	if m, want := readMessage(t, r), ping(`{"time":"2026-12-07T06:50:00Z","interval_ms":1000,"batch_ms":3600000}`); m != want {
		t.Fatalf("first message is %+v, want %+v", m, want)
	}
	waitStreams(t, clk, 1)
	clk.Advance(time.Second)
	if m, want := readMessage(t, r), ping(`{"time":"2026-12-07T06:50:01Z","interval_ms":1000,"batch_ms":3600000}`); m != want {
		t.Fatalf("after a ping interval: %+v, want %+v", m, want)
	}
	b.MarkCurrent()
	clk.Advance(time.Second)
	want := ping(`{"time":"2026-12-07T06:50:02Z","interval_ms":1000,"batch_ms":3600000,"current_at":"2026-12-07T06:50:01Z"}`)
	if m := readMessage(t, r); m != want {
		t.Fatalf("after MarkCurrent: %+v, want %+v", m, want)
	}
}

// waitStreams waits until n streams of a bus on clk wait on their batch and ping tickers.
func waitStreams(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := clk.BlockUntil(ctx, 2*n); err != nil {
		t.Fatalf("%d streams never started their tickers: %v", n, err)
	}
}

// TestPingDefaults: a bus configured without a ping interval pings every DefaultPingInterval.
func TestPingDefaults(t *testing.T) {
	if got := New(Config{}, Deps{}).PingInterval(); got != DefaultPingInterval {
		t.Fatalf("PingInterval() = %v, want %v", got, DefaultPingInterval)
	}
}
