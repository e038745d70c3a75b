package broker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"citywatch/internal/clock"
)

func TestLoginLimiter(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	l := newLoginLimiter(3, time.Second, 4, clk.Now)
	for i := 0; i < 3; i++ {
		if !l.take("10.0.0.1") {
			t.Fatalf("attempt %d refused within burst", i)
		}
	}
	if l.take("10.0.0.1") {
		t.Fatal("attempt beyond burst allowed")
	}
	if !l.take("10.0.0.2") {
		t.Fatal("another address is limited too")
	}
	clk.Advance(time.Second)
	if !l.take("10.0.0.1") {
		t.Fatal("attempt refused after refill")
	}
	if l.take("10.0.0.1") {
		t.Fatal("refill gave more than one attempt per interval")
	}
	// A successful login gives its attempt back.
	clk.Advance(time.Second)
	if !l.take("10.0.0.1") {
		t.Fatal("refused after refill")
	}
	l.refund("10.0.0.1")
	if !l.take("10.0.0.1") {
		t.Fatal("refund did not return the attempt")
	}
	// The map stays bounded.
	for i := 0; i < 100; i++ {
		l.take(fmt.Sprintf("10.1.0.%d", i))
	}
	if n := len(l.ips); n > 4 {
		t.Fatalf("limiter holds %d addresses, bound is 4", n)
	}
}

func TestCredCache(t *testing.T) {
	c := newCredCache(2)
	h1, h2 := []byte("$2a$hash-one"), []byte("$2a$hash-two")
	c.add(h1, []byte("pw"))
	if !c.has(h1, []byte("pw")) || c.has(h1, []byte("pw2")) || c.has(h2, []byte("pw")) {
		t.Fatal("cache keyed wrongly")
	}
	c.add(h1, []byte("pw")) // duplicate: no second slot
	c.add(h2, []byte("pw"))
	c.add(h2, []byte("other"))
	if c.has(h1, []byte("pw")) {
		t.Error("oldest entry not evicted")
	}
	if !c.has(h2, []byte("pw")) || !c.has(h2, []byte("other")) || len(c.keys) != 2 || len(c.order) != 2 {
		t.Errorf("cache state: %d keys, %d order", len(c.keys), len(c.order))
	}
	for k := range c.keys {
		if bytes.Contains(k[:], []byte("pw")) {
			t.Error("cache key contains the password")
		}
	}
}

func TestRateLimiter(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	r := newRateLimiter(10*time.Second, clk.Now)
	if ok, _ := r.allow("a"); !ok {
		t.Fatal("first event refused")
	}
	for i := 0; i < 5; i++ {
		if ok, _ := r.allow("a"); ok {
			t.Fatal("event within interval allowed")
		}
	}
	if ok, _ := r.allow("b"); !ok {
		t.Fatal("other key limited")
	}
	clk.Advance(10 * time.Second)
	ok, suppressed := r.allow("a")
	if !ok || suppressed != 5 {
		t.Fatalf("after interval: ok=%v suppressed=%d, want true 5", ok, suppressed)
	}
}

func TestMochiLogHandler(t *testing.T) {
	var buf bytes.Buffer
	clk := clock.NewFake(time.Unix(1e9, 0))
	h := &mochiLogHandler{
		h:   slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		lim: newRateLimiter(10*time.Second, clk.Now),
	}
	log := slog.New(h).With("hook", "x", "packet", "secret-with")
	log.Info("attached listener")
	log.Debug("client disconnected")
	log.Warn("error processing packet", "pk", "payload-secret", "client", "c1")
	log.Warn("error processing packet", "client", "c2")
	log.Error("publish packet error", "packet", "payload-secret2")
	log.Error("publish packet error")
	out := buf.String()
	for _, bad := range []string{"attached listener", "client disconnected", "secret", "c2"} {
		if strings.Contains(out, bad) {
			t.Errorf("log output contains %q:\n%s", bad, out)
		}
	}
	if strings.Count(out, "error processing packet") != 1 || strings.Count(out, "publish packet error") != 2 ||
		!strings.Contains(out, "client=c1") || !strings.Contains(out, "hook=x") {
		t.Errorf("unexpected log output:\n%s", out)
	}
	if h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("mochi Info enabled")
	}
}
