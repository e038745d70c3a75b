package notify

import (
	"context"
	"database/sql"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
)

// newFakeClock returns the fake clock outbox tests move by hand: retry schedules, breakers and the poll
// ticker follow it.
func newFakeClock() *clock.Fake { return clock.NewFake(time.Now().Truncate(time.Second)) }

// hook is a webhook receiver under test control.
type hook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status int               // response status; 0 = 200
	header map[string]string // extra response headers
	body   string
	hits   int
	ok     map[string]int // webhook-id → 2xx responses sent
	reqs   []recorded
}

type recorded struct {
	header http.Header
	body   []byte
}

func newHook(t *testing.T) *hook {
	h := &hook{ok: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the client gave up mid-body (its context ended): not a delivery, and not a test failure
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.hits++
		h.reqs = append(h.reqs, recorded{header: r.Header.Clone(), body: body})
		for k, v := range h.header {
			w.Header().Set(k, v)
		}
		st := h.status
		if st == 0 {
			st = 200
		}
		if st < 300 {
			h.ok[r.Header.Get(HeaderWebhookID)]++
		}
		w.WriteHeader(st)
		_, _ = io.WriteString(w, h.body)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// hangingHook is a webhook receiver that answers no request until release is called or the request is cut.
type hangingHook struct {
	*hook
	release func()
}

func newHangingHook(t *testing.T) hangingHook {
	h := newHook(t)
	ch := make(chan struct{})
	h.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-ch:
		}
	})
	return hangingHook{hook: h, release: sync.OnceFunc(func() { close(ch) })}
}

func (h *hook) set(status int, header map[string]string, body string) {
	h.mu.Lock()
	h.status, h.header, h.body = status, header, body
	h.mu.Unlock()
}

func (h *hook) Hits() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits
}

func (h *hook) OK() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]int{}
	for k, v := range h.ok {
		m[k] = v
	}
	return m
}

func (h *hook) receiver(name string) Receiver {
	return Receiver{Name: name, URL: h.srv.URL + "/hook", AllowPrivate: true}
}

func openTestDB(t testing.TB) (*sql.DB, string) {
	path := filepath.Join(t.TempDir(), "citywatch.db")
	db, err := OpenDB(path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, path
}

// testConfig fills fast timings for tests.
func testConfig(cfg Config) Config {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	if cfg.DefaultReceiver == "" && len(cfg.Receivers) > 0 {
		cfg.DefaultReceiver = cfg.Receivers[0].Name
	}
	return cfg
}

func startOutbox(t testing.TB, db *sql.DB, cfg Config, clk clock.Clock, reg prometheus.Registerer) *Outbox {
	if _, fake := clk.(*clock.Fake); fake && cfg.PollInterval == 0 {
		// The poll ticker follows the fake clock, which fires every tick on the way when a test advances it
		// by an hour: 100ms keeps that cheap and still far below every backoff the tests wait out.
		cfg.PollInterval = 100 * time.Millisecond
	}
	o, err := NewOutbox(testConfig(cfg), Deps{DB: db, Clock: clk, Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, o.Start())
	t.Cleanup(o.Close)
	return o
}

func enqueue(t testing.TB, db *sql.DB, o *Outbox, changes ...Change) {
	tx, err := db.Begin()
	require.NoError(t, err)
	require.NoError(t, o.Enqueue(context.Background(), tx, changes...))
	require.NoError(t, tx.Commit())
}

var changeSeq atomic.Int64

func testChange(name string) Change {
	n := changeSeq.Add(1)
	return Change{Fingerprint: name + "-" + string(rune('a'+n%26)) + time.Duration(n).String(), Name: name, State: "firing",
		Labels: map[string]string{"alertname": name, "site": "siteA"}, Value: math.NaN(),
		StartsAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
}

func deliveries(t testing.TB, o *Outbox, f DeliveryFilter) []Delivery {
	d, err := o.Deliveries(context.Background(), f)
	require.NoError(t, err)
	return d
}

func countStatus(t testing.TB, o *Outbox, receiver, status string) int {
	return len(deliveries(t, o, DeliveryFilter{Receiver: receiver, Status: status, Limit: 1000}))
}

// waitCycles waits until the run loop has completed n more cycles: "nothing happened" assertions poll the loop
// rather than sleep. On a fake clock it moves time by one poll interval per cycle (the loop's ticker follows
// the fake), so a test advances fake time by exactly n poll intervals.
func waitCycles(t testing.TB, o *Outbox, n int64) {
	fake, _ := o.clock.(*clock.Fake)
	for range n {
		start := o.cycles.Load()
		if fake != nil {
			fake.Advance(o.cc.Load().cfg.PollInterval)
		}
		require.Eventually(t, func() bool { return o.cycles.Load() > start }, 10*time.Second, time.Millisecond)
	}
}

const waitFor = 15 * time.Second
const tick = 2 * time.Millisecond

// compileOne compiles r as the only receiver of a Config with the defaults applied.
func compileOne(t *testing.T, r Receiver) *compiledReceiver {
	t.Helper()
	cr, errs := compileReceiver("r", Config{Receivers: []Receiver{r}}.withDefaults().Receivers[0])
	require.Empty(t, errs)
	return cr
}

// renderOne renders c for r (compiled by compileOne) with payload key "k" and no external URL.
func renderOne(t *testing.T, r Receiver, c Change) []byte {
	t.Helper()
	sc := toStored(c)
	raw, _, err := render(compileOne(t, r), buildPayload("k", r.Name, "", sc), sc, "")
	require.NoError(t, err)
	return raw
}

// deliverFirst delivers c through an outbox with receiver r, which sends to h, and returns the request h got.
func deliverFirst(t *testing.T, h *hook, r Receiver, c Change) recorded {
	t.Helper()
	db, _ := openTestDB(t)
	o := startOutbox(t, db, Config{Receivers: []Receiver{r}}, nil, nil)
	enqueue(t, db, o, c)
	require.Eventually(t, func() bool { return countStatus(t, o, r.Name, StatusDelivered) == 1 }, waitFor, tick)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reqs[0]
}
