package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestReceiverDownThenUpDeliversOnce(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	h := newHook(t)
	h.set(503, nil, "maintenance")
	reg := prometheus.NewRegistry()
	o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}, BreakerThreshold: 3}, clk, reg)
	var keys []string
	for i := 0; i < 5; i++ {
		c := testChange("HighCO2")
		keys = append(keys, IdempotencyKey(c, "ops"))
		enqueue(t, db, o, c)
	}
	// Down for a stretch: let it fail a good number of times, moving the clock past backoffs and breaker cool-downs.
	require.Eventually(t, func() bool {
		clk.Advance(5 * time.Second)
		return h.Hits() >= 20
	}, waitFor, tick)
	require.Zero(t, countStatus(t, o, "ops", StatusDelivered))
	h.set(200, nil, "")
	require.Eventually(t, func() bool {
		clk.Advance(5 * time.Second)
		return countStatus(t, o, "ops", StatusDelivered) == 5
	}, waitFor, tick)
	waitCycles(t, o, 5)
	o.Close()
	ok := h.OK()
	require.Len(t, ok, 5)
	for _, k := range keys {
		require.Equal(t, 1, ok[k], "webhook %s delivered once", k)
	}
	require.Equal(t, 5.0, testutil.ToFloat64(o.m.deliveries.WithLabelValues("ops", StatusDelivered)))
	require.GreaterOrEqual(t, testutil.ToFloat64(o.m.attempts.WithLabelValues("ops", "http_5xx")), 15.0)
	for _, d := range deliveries(t, o, DeliveryFilter{Receiver: "ops"}) {
		require.Greater(t, d.Attempts, 1)
		require.Equal(t, 200, d.LastStatusCode)
		require.NotNil(t, d.DeliveredAt)
	}
}

func TestOneReceiverFailingNeverDuplicatesTheOther(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	good, bad := newHook(t), newHook(t)
	bad.set(500, nil, "boom")
	o := startOutbox(t, db, Config{
		Receivers: []Receiver{good.receiver("good"), bad.receiver("bad")},
		Routes:    []Route{{Receiver: "good", Continue: true}, {Receiver: "bad"}},
	}, clk, nil)
	c := testChange("WaterLevel")
	enqueue(t, db, o, c)
	require.Eventually(t, func() bool {
		clk.Advance(10 * time.Second)
		return bad.Hits() >= 8
	}, waitFor, tick)
	require.Equal(t, map[string]int{IdempotencyKey(c, "good"): 1}, good.OK())
	require.Equal(t, 1, good.Hits())
	bad.set(200, nil, "")
	require.Eventually(t, func() bool {
		clk.Advance(10 * time.Second)
		return countStatus(t, o, "bad", StatusDelivered) == 1
	}, waitFor, tick)
	o.Close()
	require.Equal(t, 1, good.Hits())
	require.Equal(t, map[string]int{IdempotencyKey(c, "bad"): 1}, bad.OK())
}

func TestClientErrorIsDeadNotRetried(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	h := newHook(t)
	h.set(400, nil, "bad payload \x00\x01"+strings.Repeat("garbage ", 200))
	o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}}, clk, nil)
	enqueue(t, db, o, testChange("Noise"))
	require.Eventually(t, func() bool { return countStatus(t, o, "ops", StatusDead) == 1 }, waitFor, tick)
	for i := 0; i < 5; i++ {
		clk.Advance(time.Hour)
		waitCycles(t, o, 2)
	}
	require.Equal(t, 1, h.Hits())
	d := deliveries(t, o, DeliveryFilter{})[0]
	require.Equal(t, 1, d.Attempts)
	require.Equal(t, 400, d.LastStatusCode)
	require.True(t, strings.HasPrefix(d.LastError, "HTTP 400: bad payload .."), d.LastError)
	require.Contains(t, d.LastError, "(truncated)")
	require.Less(t, len(d.LastError), 400)

	// Replay after the receiver is fixed.
	h.set(200, nil, "")
	require.NoError(t, o.Replay(context.Background(), d.ID))
	require.Eventually(t, func() bool { return countStatus(t, o, "ops", StatusDelivered) == 1 }, waitFor, tick)
	require.ErrorIs(t, o.Replay(context.Background(), d.ID), ErrNotReplayable)
	require.ErrorIs(t, o.Replay(context.Background(), 9999), ErrNotFound)
}

func TestRetryAfterHonoured(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  int
		after func(now time.Time) string
	}{
		{"429 seconds", http.StatusTooManyRequests, func(time.Time) string { return "120" }},
		{"503 http date", http.StatusServiceUnavailable, func(now time.Time) string { return now.Add(120 * time.Second).UTC().Format(http.TimeFormat) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTestDB(t)
			clk := newFakeClock()
			h := newHook(t)
			h.set(tc.code, map[string]string{"Retry-After": tc.after(clk.Now())}, "slow down")
			o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}}, clk, nil)
			start := clk.Now()
			enqueue(t, db, o, testChange("Humidity"), testChange("Humidity"))
			require.Eventually(t, func() bool {
				d := deliveries(t, o, DeliveryFilter{Status: StatusPending})
				return len(d) == 2 && h.Hits() >= 1 && (d[0].Attempts+d[1].Attempts) >= 1
			}, waitFor, tick)
			h.set(200, nil, "")
			d := deliveries(t, o, DeliveryFilter{})
			for _, x := range d {
				if x.Attempts > 0 {
					require.False(t, x.NextAttemptAt.Before(start.Add(120*time.Second)), "next attempt %s before Retry-After", x.NextAttemptAt)
				}
			}
			hits := h.Hits()
			clk.Advance(119 * time.Second)
			waitCycles(t, o, 5)
			require.Equal(t, hits, h.Hits(), "no attempt before Retry-After (the whole receiver is paused)")
			clk.Advance(2 * time.Second)
			require.Eventually(t, func() bool { return countStatus(t, o, "ops", StatusDelivered) == 2 }, waitFor, tick)
		})
	}
}

func TestHangingWebhookIsCut(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	hang := newHangingHook(t)
	defer hang.release()
	r := hang.receiver("slow")
	r.Timeout = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	o := startOutbox(t, db, Config{Receivers: []Receiver{r}}, clk, reg)
	enqueue(t, db, o, testChange("Battery"))
	require.Eventually(t, func() bool {
		d := deliveries(t, o, DeliveryFilter{})
		return len(d) == 1 && d[0].Attempts == 1 && d[0].Status == StatusPending
	}, waitFor, tick)
	d := deliveries(t, o, DeliveryFilter{})[0]
	require.Contains(t, d.LastError, "timed out after 50ms")
	require.NotContains(t, d.LastError, hang.srv.URL)
	require.Equal(t, 1.0, testutil.ToFloat64(o.m.attempts.WithLabelValues("slow", "timeout")))
}

func TestCircuitBreakerOpensAndProbes(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	h := newHook(t)
	h.set(502, nil, "")
	reg := prometheus.NewRegistry()
	o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}, BreakerThreshold: 3,
		BreakerCooldown: time.Minute, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, clk, reg)
	for i := 0; i < 10; i++ {
		enqueue(t, db, o, testChange("Temp"))
	}
	require.Eventually(t, func() bool {
		clk.Advance(time.Second)
		return testutil.ToFloat64(o.m.circuitOpen.WithLabelValues("ops")) == 1
	}, waitFor, tick)
	// Requests already admitted when the circuit opened finish; after that nothing is sent.
	require.Eventually(t, func() bool { return countStatus(t, o, "ops", StatusDelivering) == 0 }, waitFor, tick)
	hits := h.Hits()
	require.GreaterOrEqual(t, hits, 3)
	waitCycles(t, o, 5)
	require.Equal(t, hits, h.Hits(), "open circuit sends nothing")
	h.set(200, nil, "")
	clk.Advance(61 * time.Second)
	require.Eventually(t, func() bool { return countStatus(t, o, "ops", StatusDelivered) == 10 }, waitFor, tick)
	require.Equal(t, 0.0, testutil.ToFloat64(o.m.circuitOpen.WithLabelValues("ops")))
}

func TestConcurrencyLimitPerReceiver(t *testing.T) {
	db, _ := openTestDB(t)
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	cur, peak := 0, 0
	h := newHook(t)
	h.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-mu
		cur++
		peak = max(peak, cur)
		mu <- struct{}{}
		time.Sleep(2 * time.Millisecond) // overlap requests; not a wait for the assertion
		<-mu
		cur--
		mu <- struct{}{}
	})
	rcv := h.receiver("ops")
	rcv.MaxConcurrency = 2
	o := startOutbox(t, db, Config{Receivers: []Receiver{rcv}}, nil, nil)
	var cs []Change
	for i := 0; i < 40; i++ {
		cs = append(cs, testChange("PM25"))
	}
	enqueue(t, db, o, cs...)
	require.Eventually(t, func() bool { return countStatus(t, o, "ops", StatusDelivered) == 40 }, waitFor, 5*time.Millisecond)
	<-mu
	require.LessOrEqual(t, peak, 2)
	mu <- struct{}{}
}

func TestOrderingPerAlert(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	h := newHook(t)
	h.set(500, nil, "")
	o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}}, clk, nil)
	fire := testChange("Door")
	res := fire
	res.State, res.EndsAt = "resolved", fire.StartsAt.Add(time.Minute)
	enqueue(t, db, o, fire)
	enqueue(t, db, o, res)
	require.Eventually(t, func() bool { clk.Advance(time.Second); return h.Hits() >= 3 }, waitFor, tick)
	h.set(200, nil, "")
	require.Eventually(t, func() bool {
		clk.Advance(time.Second)
		return countStatus(t, o, "ops", StatusDelivered) == 2
	}, waitFor, tick)
	h.mu.Lock()
	defer h.mu.Unlock()
	var states []string
	for _, r := range h.reqs {
		if strings.Contains(string(r.body), `"state":"resolved"`) {
			states = append(states, "resolved")
		} else {
			states = append(states, "firing")
		}
	}
	require.Equal(t, "resolved", states[len(states)-1])
	for _, s := range states[:len(states)-1] {
		require.Equal(t, "firing", s, "resolved never sent while firing is undelivered")
	}
}

func TestEnqueueIdempotentAndTransactional(t *testing.T) {
	db, _ := openTestDB(t)
	h := newHook(t)
	o, err := NewOutbox(testConfig(Config{Receivers: []Receiver{h.receiver("ops")}}), Deps{DB: db})
	require.NoError(t, err)
	c := testChange("Dup")
	enqueue(t, db, o, c, c)
	enqueue(t, db, o, c)
	require.Len(t, deliveries(t, o, DeliveryFilter{}), 1)

	tx, err := db.Begin()
	require.NoError(t, err)
	require.NoError(t, o.Enqueue(context.Background(), tx, testChange("RolledBack")))
	require.NoError(t, tx.Rollback())
	require.Len(t, deliveries(t, o, DeliveryFilter{}), 1)

	r1, r2 := c, c
	r1.Reminder, r1.Seq = true, 1
	r2.Reminder, r2.Seq = true, 2
	enqueue(t, db, o, r1, r2, r1)
	require.Len(t, deliveries(t, o, DeliveryFilter{}), 3)

	tx, err = db.Begin()
	require.NoError(t, err)
	defer tx.Rollback()
	bad := c
	bad.State = "weird"
	require.ErrorContains(t, o.Enqueue(context.Background(), tx, bad), `state must be firing or resolved, got "weird"`)
	require.Error(t, o.Enqueue(context.Background(), nil, c))
	o.Close()
	o.Close()
}

func TestCloseIsIdempotentAndRequeues(t *testing.T) {
	db, _ := openTestDB(t)
	h := newHangingHook(t)
	defer h.release()
	o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}}, nil, nil)
	enqueue(t, db, o, testChange("Stuck"))
	require.Eventually(t, func() bool { return countStatus(t, o, "ops", StatusDelivering) == 1 }, waitFor, tick)
	o.Close()
	o.Close()
	d := deliveries(t, o, DeliveryFilter{})
	require.Equal(t, StatusPending, d[0].Status)
	require.Equal(t, 0, d[0].Attempts, "an attempt cut by shutdown is not counted")
	require.ErrorIs(t, o.Start(), ErrClosed)
}

func TestRedirectAndBlockedDestinationAreDead(t *testing.T) {
	db, _ := openTestDB(t)
	h := newHook(t)
	rcv := Receiver{Name: "ext", URL: strings.Replace(h.srv.URL, "127.0.0.1", "localhost", 1) + "/services/T0/B0/SECRETTOKEN123?token=abc"}
	o := startOutbox(t, db, Config{Receivers: []Receiver{rcv}}, nil, nil)
	enqueue(t, db, o, testChange("Leak"))
	require.Eventually(t, func() bool { return countStatus(t, o, "ext", StatusDead) == 1 }, waitFor, tick)
	d := deliveries(t, o, DeliveryFilter{})[0]
	require.Contains(t, d.LastError, "blocked")
	require.NotContains(t, d.LastError, "SECRETTOKEN")
	require.NotContains(t, d.LastError, "token=abc")
	require.Zero(t, h.Hits())
}

func TestErrorsAndBodiesAreRedacted(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	h := newHook(t)
	h.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		// A receiver that echoes the request back must not leak the token into the delivery log.
		_, _ = w.Write([]byte(r.URL.String() + " auth=" + r.Header.Get("Authorization")))
	})
	rcv := h.receiver("ops")
	rcv.URL = h.srv.URL + "/bot123456:SECRETBOTTOKEN/sendMessage?key=QUERYSECRET"
	rcv.Headers = map[string]string{"Authorization": "Bearer HEADERSECRET"}
	o := startOutbox(t, db, Config{Receivers: []Receiver{rcv}}, clk, nil)
	enqueue(t, db, o, testChange("Echo"))
	require.Eventually(t, func() bool {
		d := deliveries(t, o, DeliveryFilter{})
		return len(d) == 1 && d[0].Attempts >= 1
	}, waitFor, tick)
	d := deliveries(t, o, DeliveryFilter{})[0]
	for _, s := range []string{"SECRETBOTTOKEN", "QUERYSECRET", "HEADERSECRET"} {
		require.NotContains(t, d.LastError, s)
	}
	require.Contains(t, d.LastError, "HTTP 500")
}

func TestNewOutboxErrors(t *testing.T) {
	_, err := NewOutbox(Config{}, Deps{})
	require.Error(t, err)
	db, _ := openTestDB(t)
	_, err = NewOutbox(Config{Receivers: []Receiver{{Name: "m", Format: FormatMQTT}}, DefaultReceiver: "m"}, Deps{DB: db})
	require.ErrorContains(t, err, "Deps.MQTT is nil")
	_, err = NewOutbox(Config{Receivers: []Receiver{{Name: "x", URL: "https://hooks.example/secretpath"}}}, Deps{DB: db})
	require.ErrorContains(t, err, "default_receiver: required")
	require.False(t, errors.Is(err, ErrClosed))
}

func TestEnqueueAfterClose(t *testing.T) {
	db, _ := openTestDB(t)
	h := newHook(t)
	o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}}, nil, nil)
	o.Close()
	enqueue(t, db, o, testChange("Late"))
	require.Len(t, deliveries(t, o, DeliveryFilter{Status: StatusPending}), 1)
}

func TestGivesUpAfterRetryForThenReplay(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	h := newHook(t)
	h.set(500, nil, "")
	reg := prometheus.NewRegistry()
	o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}, RetryFor: time.Minute}, clk, reg)
	enqueue(t, db, o, testChange("GiveUp"))
	require.Eventually(t, func() bool {
		clk.Advance(5 * time.Second)
		return countStatus(t, o, "ops", StatusFailed) == 1
	}, waitFor, tick)
	d := deliveries(t, o, DeliveryFilter{Status: StatusFailed})[0]
	require.Contains(t, d.LastError, "gave up after retrying for 1m0s: HTTP 500")
	require.Eventually(t, func() bool { // counted just after the commit the query above saw
		return testutil.ToFloat64(o.m.deliveries.WithLabelValues("ops", StatusFailed)) == 1
	}, waitFor, tick)
	require.Eventually(t, func() bool { // the gauge is refreshed by the poll tick, on the fake clock
		clk.Advance(time.Second)
		return testutil.ToFloat64(o.m.pending) == 0
	}, waitFor, tick)

	h.set(204, nil, "")
	require.NoError(t, o.Replay(context.Background(), d.ID))
	require.Eventually(t, func() bool {
		clk.Advance(5 * time.Second) // the circuit may be open after the failures
		return countStatus(t, o, "ops", StatusDelivered) == 1
	}, waitFor, tick)
	require.Greater(t, deliveries(t, o, DeliveryFilter{})[0].Attempts, d.Attempts, "attempts accumulate across replays")
}

func TestRemovedReceiverRowsFailOnStart(t *testing.T) {
	db, _ := openTestDB(t)
	h := newHook(t)
	o, err := NewOutbox(testConfig(Config{Receivers: []Receiver{h.receiver("old"), h.receiver("keep")},
		Routes: []Route{{Receiver: "old", Continue: true}, {Receiver: "keep"}}}), Deps{DB: db})
	require.NoError(t, err)
	enqueue(t, db, o, testChange("Moved"))
	o.Close()
	o2 := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("keep")}}, nil, nil)
	require.Eventually(t, func() bool { return countStatus(t, o2, "keep", StatusDelivered) == 1 }, waitFor, tick)
	d := deliveries(t, o2, DeliveryFilter{Receiver: "old"})
	require.Len(t, d, 1)
	require.Equal(t, StatusFailed, d[0].Status)
	require.Equal(t, "receiver not configured", d[0].LastError)
}

// TestPollTickerFollowsClock: the outbox looks for due retries on its clock's ticker, so a test (or a
// simulation) that moves the clock sees each retry without waiting a real poll interval. The clock moves only
// once the previous attempt is recorded, so nothing but a tick can start the next one (the first retry may
// also come from the re-look after Enqueue, hence three).
func TestPollTickerFollowsClock(t *testing.T) {
	db, _ := openTestDB(t)
	clk := newFakeClock()
	h := newHook(t)
	h.set(500, nil, "")
	o := startOutbox(t, db, Config{Receivers: []Receiver{h.receiver("ops")}, PollInterval: time.Hour}, clk, nil)
	enqueue(t, db, o, testChange("Tick"))
	for attempt := 1; attempt <= 3; attempt++ {
		require.Eventually(t, func() bool {
			d := deliveries(t, o, DeliveryFilter{})
			return len(d) == 1 && d[0].Attempts == attempt && d[0].Status == StatusPending
		}, waitFor, tick, "attempt %d", attempt)
		clk.Advance(time.Hour) // past the backoff, and one poll interval
	}
}
