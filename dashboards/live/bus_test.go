package live

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"citywatch/internal/clock"
)

func ev(kind, key, site, data string) Event {
	return Event{Kind: kind, Key: key, Site: site, Data: json.RawMessage(data)}
}

// TestCoalesceAndFilter: a subscriber gets the latest event per key, in first-change order, and only for the
// sites it may see.
func TestCoalesceAndFilter(t *testing.T) {
	b := New(Config{}, Deps{})
	s := b.Subscribe(func(site string) bool { return site == "a" })
	defer s.Close()
	b.Publish(ev("device", "d1", "a", `{"v":1}`))
	b.Publish(ev("device", "d2", "b", `{"v":2}`))
	b.Publish(ev("camera", "c1", "a", `{"s":"online"}`))
	b.Publish(ev("device", "d1", "a", `{"v":3}`))
	got, overflow := s.Take()
	if overflow || len(got) != 2 || got[0].Key != "d1" || string(got[0].Data) != `{"v":3}` || got[1].Key != "c1" {
		t.Fatalf("got %+v overflow %v", got, overflow)
	}
	if got, _ := s.Take(); len(got) != 0 {
		t.Fatalf("Take did not empty the queue: %+v", got)
	}
}

// TestOverflowTellsToReload: past MaxPending keys the subscriber is told it lost events, and is whole again
// after the next Take.
func TestOverflowTellsToReload(t *testing.T) {
	b := New(Config{MaxPending: 2}, Deps{})
	s := b.Subscribe(func(string) bool { return true })
	defer s.Close()
	for _, k := range []string{"1", "2", "3"} {
		b.Publish(ev("device", k, "", `{}`))
	}
	got, overflow := s.Take()
	if !overflow || len(got) != 2 {
		t.Fatalf("got %d events, overflow %v", len(got), overflow)
	}
	b.Publish(ev("device", "4", "", `{}`))
	if got, overflow := s.Take(); overflow || len(got) != 1 {
		t.Fatalf("after recovery: %d events, overflow %v", len(got), overflow)
	}
	s.Close()
	s.Close()
	if b.Subscribers() != 0 {
		t.Fatalf("%d subscribers after Close", b.Subscribers())
	}
}

// TestServe: the stream is text/event-stream with a retry hint, batches events by kind, and ends (releasing
// its subscription) when the client goes away.
func TestServe(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 7, 6, 50, 0, 0, time.UTC))
	b := New(Config{BatchInterval: time.Second}, Deps{Clock: clk})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.Serve(w, r, func(site string) bool { return site != "hidden" })
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	first, _ := r.ReadString('\n')
	if first != "retry: 3000\n" {
		t.Fatalf("first line %q", first)
	}
	waitStreams(t, clk, 1)
	b.Publish(ev("alert", "7", "hidden", `{"id":7}`))
	b.Publish(ev("alert", "8", "q1", `{"id":8}`))
	clk.Advance(time.Second)
	var lines []string
	for len(lines) < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "event: ping\n" {
			_, _ = r.ReadString('\n') // its data: TestServePing checks pings
			continue
		}
		if strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "data:") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	if lines[0] != "event: alert" || lines[1] != `data: {"id":8}` {
		t.Fatalf("got %q", lines)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for b.Subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription outlived its client")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
