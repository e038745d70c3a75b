package live

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"citywatch/internal/clock"
)

// openStreamQuery serves b on a test server (every site visible but "hidden") and opens its event stream with
// a query string (such as "batch=1"); the stream closes when the test ends.
func openStreamQuery(t *testing.T, b *Bus, query string) *bufio.Reader {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.Serve(w, r, func(site string) bool { return site != "hidden" })
	}))
	ctx, cancel := context.WithCancel(context.Background())
	// A stream that never sends what the test waits for fails the read instead of hanging the test.
	stop := time.AfterFunc(30*time.Second, cancel)
	t.Cleanup(func() { stop.Stop(); cancel(); srv.Close() })
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return bufio.NewReader(resp.Body)
}

// nextData reads messages until one that is not a ping.
func nextData(t *testing.T, r *bufio.Reader) sseMessage {
	t.Helper()
	for {
		if m := readMessage(t, r); m.event != "ping" {
			return m
		}
	}
}

// TestServeBatched: with ?batch=1 a batch is one "batch" message, [[kind, item], ...] in first-change order,
// instead of one message per thing (a browser dispatches every message as an event: a site's 500 devices
// each second cost a phone more in dispatch than in parsing); the site filter and the latest-per-key
// coalescing are the same, an overflow is still a "reload" after the batch, and without the parameter the
// stream is as before.
func TestServeBatched(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 7, 6, 50, 0, 0, time.UTC))
	b := New(Config{BatchInterval: time.Second, PingInterval: time.Hour}, Deps{Clock: clk})
	batched := openStreamQuery(t, b, "batch=1")
	plain := openStreamQuery(t, b, "")
	waitStreams(t, clk, 2)
	b.Publish(ev("device", "d1", "a", `{"id":"d1","v":1}`))
	b.Publish(ev("camera", "c1", "a", `{"id":"c1"}`))
	b.Publish(ev("device", "d2", "hidden", `{"id":"d2"}`))
	b.Publish(ev("device", "d1", "a", `{"id":"d1","v":2}`))
	clk.Advance(time.Second)
	m := nextData(t, batched)
	var got [][2]json.RawMessage
	if m.event != "batch" || json.Unmarshal([]byte(m.data), &got) != nil {
		t.Fatalf("batched stream: %+v, want a batch message", m)
	}
	var items []string
	for _, it := range got {
		items = append(items, string(it[0])+" "+string(it[1]))
	}
	if want := []string{`"device" {"id":"d1","v":2}`, `"camera" {"id":"c1"}`}; !slices.Equal(items, want) {
		t.Fatalf("batched items %q, want %q", items, want)
	}
	for _, w := range []sseMessage{{"device", `{"id":"d1","v":2}`}, {"camera", `{"id":"c1"}`}} {
		if m := nextData(t, plain); m != w {
			t.Fatalf("plain stream: %+v, want %+v", m, w)
		}
	}
}
