package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/promql"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/store"
	"citywatch/store/tsdb"
)

func sortDurations(s []time.Duration) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }

// alertConfig runs alerting at its defaults (1 s evaluation) with notifications sent at once: group_wait 0,
// one group per device/camera.
const alertConfig = appConfigHead + `alerts:
  rule_files: [rules.yaml]
  group_by: [alertname, device, camera]
  group_wait: 0s
  group_interval: 100ms
  repeat_interval: 1h
notify:
  mqtt:
    enabled: false
  receivers:
    - name: bench
      url: %[4]s
      allow_private: true
`

// latencyResult is a p50/p99 pair with its baseline.
type latencyResult struct {
	p50, p99, baseP50, baseP99 time.Duration
	n                          int
}

// alertLatency publishes n readings that cross the threshold of `x > 0` (for 0s), each on its own device, at
// spread-out moments, and measures publish → webhook received per alert. The baseline is publish → the
// reading visible through the query API, measured for n other devices in the same app.
func alertLatency(n int) (latencyResult, error) {
	var res latencyResult
	h := newHookReceiver("device")
	defer h.srv.Close()
	cfg := fmt.Sprintf(alertConfig, "%[1]s", "%[2]s", "%[3]s", h.srv.URL)
	r, err := startApp(cfg, "groups:\n  - name: bench\n    rules:\n      - alert: XAbove\n        expr: x > 0\n        for: 0s\n", nil)
	if err != nil {
		return res, err
	}
	defer r.stop()
	c, err := mqttConnect(r.mqtt, "bench-alert-pub")
	if err != nil {
		return res, err
	}
	defer c.Disconnect(100)

	// Baseline: publish → queryable, polled as fast as the API answers.
	var base []time.Duration
	for i := 0; i < n; i++ {
		dev := "vis" + strconv.Itoa(i)
		t0 := time.Now()
		if err := mqttPublish(c, "city/d1/s1/"+dev, `{"y":1}`); err != nil {
			return res, err
		}
		for {
			k, err := r.instantCount(`y{device="` + dev + `"}`)
			if err != nil {
				return res, err
			}
			if k == 1 {
				break
			}
			if time.Since(t0) > 30*time.Second {
				return res, fmt.Errorf("reading of %s not visible after 30s", dev)
			}
		}
		base = append(base, time.Since(t0))
	}

	// Alerts: one publish every 130 ms, so publishes fall at every phase of the 1 s evaluation tick.
	sent := make(map[string]time.Time, n)
	for i := 0; i < n; i++ {
		dev := "alert" + strconv.Itoa(i)
		sent[dev] = time.Now()
		if err := mqttPublish(c, "city/d1/s1/"+dev, `{"x":1}`); err != nil {
			return res, err
		}
		time.Sleep(130 * time.Millisecond)
	}
	var lat []time.Duration
	deadline := time.Now().Add(60 * time.Second)
	for dev, t0 := range sent {
		for {
			if at, ok := h.firedAt(dev); ok {
				lat = append(lat, at.Sub(t0))
				break
			}
			if time.Now().After(deadline) {
				return res, fmt.Errorf("no webhook for %s within 60s (%d of %d received)", dev, len(lat), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return latencyResult{p50: percentile(lat, 50), p99: percentile(lat, 99), baseP50: percentile(base, 50),
		baseP99: percentile(base, 99), n: n}, nil
}

// eventLatency runs one simulated camera monitored by citywatch with the event rule CameraOffline (for 0s),
// injects refuse and disconnect faults alternately (rounds in all), and measures fault → webhook received
// against fault → the state change visible in /api/cameras/{id} (the baseline: detection alone).
func eventLatency(rounds int) (latencyResult, error) {
	var res latencyResult
	sim, err := camerasim.New(camerasim.Config{Listen: "127.0.0.1:0", Cameras: 1}, quiet)
	if err != nil {
		return res, err
	}
	if err := sim.Start(); err != nil {
		return res, err
	}
	defer sim.Close()
	h := newHookReceiver("camera")
	defer h.srv.Close()
	cfg := fmt.Sprintf(alertConfig, "%[1]s", "%[2]s", "%[3]s", h.srv.URL)
	// Every round must notify: flap detection (which would make the third fault one "flapping" alert) is off.
	rules := "groups:\n  - name: bench\n    rules:\n      - alert: CameraOffline\n        event: camera_offline\n        for: 0s\n        flap_count: -1\n"
	cams := []cameras.CameraConfig{{ID: "cam1", Site: "s1", URL: sim.URL(1), Transport: cameras.TransportTCP,
		ReconnectMin: 200 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}}
	r, err := startApp(cfg, rules, cams)
	if err != nil {
		return res, err
	}
	defer r.stop()
	state := func() (string, error) {
		var st struct {
			State string `json:"state"`
		}
		_, err := r.getJSON("/api/cameras/cam1", &st)
		return st.State, err
	}
	waitState := func(pred func(string) bool, within time.Duration) (time.Time, error) {
		deadline := time.Now().Add(within)
		for {
			s, err := state()
			if err == nil && pred(s) {
				return time.Now(), nil
			}
			if time.Now().After(deadline) {
				return time.Time{}, fmt.Errorf("camera state %q (%v) after %s", s, err, within)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	online := func(s string) bool { return s == "online" }
	var lat, base []time.Duration
	for i := 0; i < rounds; i++ {
		if _, err := waitState(online, 60*time.Second); err != nil {
			return res, fmt.Errorf("before fault %d: %w", i, err)
		}
		time.Sleep(1500 * time.Millisecond) // let the previous alert resolve and the stream settle
		h.forget("cam1")
		kind := camerasim.FaultRefuse
		if i%2 == 1 {
			kind = camerasim.FaultDisconnect
		}
		t0 := time.Now()
		if err := sim.SetFault(1, camerasim.Fault{Kind: kind}); err != nil {
			return res, err
		}
		seen, err := waitState(func(s string) bool { return s != "online" && s != "" }, 30*time.Second)
		if err != nil {
			return res, fmt.Errorf("fault %s: %w", kind, err)
		}
		base = append(base, seen.Sub(t0))
		deadline := time.Now().Add(30 * time.Second)
		for {
			if at, ok := h.firedAt("cam1"); ok {
				lat = append(lat, at.Sub(t0))
				break
			}
			if time.Now().After(deadline) {
				return res, fmt.Errorf("no CameraOffline webhook within 30s of fault %s", kind)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if err := sim.SetFault(1, camerasim.Fault{Kind: camerasim.FaultNone}); err != nil {
			return res, err
		}
	}
	return latencyResult{p50: percentile(lat, 50), p99: percentile(lat, 99), baseP50: percentile(base, 50),
		baseP99: percentile(base, 99), n: rounds}, nil
}

// outboxThroughput measures sustained deliveries/s through the durable outbox (enqueue in transactions of 200
// changes while delivering, claim, POST, record) to a fast local receiver, against direct POSTs of the same
// bodies with the same concurrency.
func outboxThroughput(n int) (outbox, direct float64, err error) {
	var got atomic.Int64
	var sample atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if sample.Load() == nil {
			sample.Store(b)
		}
		got.Add(1)
	}))
	defer srv.Close()
	const conc = 8
	dir, err := os.MkdirTemp("", "citywatch-bench-outbox-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	db, err := notify.OpenDB(filepath.Join(dir, "citywatch.db"))
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	o, err := notify.NewOutbox(notify.Config{Receivers: []notify.Receiver{{Name: "fast", URL: srv.URL, AllowPrivate: true,
		MaxConcurrency: conc, Secrets: []string{"a-raw-secret-used-as-bytes"}}}, DefaultReceiver: "fast"}, notify.Deps{DB: db})
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := o.Start(); err != nil {
		return 0, 0, err
	}
	defer o.Close()
	now := time.Now()
	for i := 0; i < n; i += 200 {
		var cs []notify.Change
		for j := i; j < min(i+200, n); j++ {
			cs = append(cs, notify.Change{Fingerprint: fmt.Sprintf("bench-%d", j), Name: "Fever", State: "firing",
				Labels:      map[string]string{"alertname": "Fever", "site": "q-hotel-1", "device": "wearable-" + strconv.Itoa(j), "severity": "critical"},
				Annotations: map[string]string{"summary": "Fever at q-hotel-1: wearable reads 39.2"}, Value: 39.2, StartsAt: now})
		}
		if err := enqueueTx(db, o, cs); err != nil {
			return 0, 0, err
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for got.Load() < int64(n) {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("outbox delivered %d of %d in 5 minutes", got.Load(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	outbox = float64(n) / time.Since(start).Seconds()

	body, _ := sample.Load().([]byte)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	start = time.Now()
	if err := testenv.PostConcurrently(client, srv.URL, body, n, conc); err != nil {
		return 0, 0, err
	}
	return outbox, float64(n) / time.Since(start).Seconds(), nil
}

func enqueueTx(db *sql.DB, o *notify.Outbox, cs []notify.Change) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := o.Enqueue(context.Background(), tx, cs...); err != nil {
		return err
	}
	return tx.Commit()
}

// ruleEvalCost loads `series` temperature series spread over `rules` sites and times one evaluation round of
// `rules` rules `temperature{site="siteK"} > 38` (none firing) by the alert manager, against the same
// queries run back to back on a bare PromQL engine (the baseline: query cost without the manager).
func ruleEvalCost(rules, series int) (round, bare time.Duration, err error) {
	dir, err := os.MkdirTemp("", "citywatch-bench-rules-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	db, err := tsdb.Open(tsdb.Config{Dir: filepath.Join(dir, "tsdb")}, tsdb.Deps{Logger: quiet})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	now := time.Now()
	batch := make([]store.Sample, 0, 5000)
	for round := 0; round < 2; round++ {
		for i := 0; i < series; i++ {
			batch = append(batch, store.Sample{Name: "temperature", Labels: []store.Label{
				{Name: "device", Value: "dev" + strconv.Itoa(i)}, {Name: "site", Value: "site" + strconv.Itoa(i%rules)}},
				T: now.Add(time.Duration(round-1) * 15 * time.Second).UnixMilli(), V: 20 + float64(i%10)})
			if len(batch) == cap(batch) {
				if err := db.Append(context.Background(), batch); err != nil {
					return 0, 0, err
				}
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		if err := db.Append(context.Background(), batch); err != nil {
			return 0, 0, err
		}
	}
	exprs := make([]string, rules)
	rs := make([]alerts.Rule, rules)
	for i := range rs {
		exprs[i] = `temperature{site="site` + strconv.Itoa(i) + `"} > 38`
		rs[i] = alerts.Rule{Alert: "Hot" + strconv.Itoa(i), Expr: exprs[i], Group: "bench"}
	}

	// Baseline: the same queries on a bare engine, median of three passes after a warm-up.
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
	var bares []time.Duration
	for pass := 0; pass < 4; pass++ {
		t0 := time.Now()
		for _, e := range exprs {
			q, err := engine.NewInstantQuery(context.Background(), db, nil, e, now)
			if err != nil {
				return 0, 0, err
			}
			if res := q.Exec(context.Background()); res.Err != nil {
				return 0, 0, res.Err
			}
			q.Close()
		}
		if pass > 0 {
			bares = append(bares, time.Since(t0))
		}
	}

	meta, err := notify.OpenDB(filepath.Join(dir, "citywatch.db"))
	if err != nil {
		return 0, 0, err
	}
	defer meta.Close()
	o, err := notify.NewOutbox(notify.Config{}, notify.Deps{DB: meta})
	if err != nil {
		return 0, 0, err
	}
	m, err := alerts.New(alerts.Config{EvalInterval: time.Hour, Rules: rs}, alerts.Deps{Queryable: db, DB: meta, Outbox: o, Logger: quiet})
	if err != nil {
		return 0, 0, err
	}
	defer m.Close()
	// Run evaluates every rule at once when it starts; a round ends when every rule has a new LastEval.
	var rounds []time.Duration
	var last time.Time
	for pass := 0; pass < 4; pass++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		t0 := time.Now()
		go func() { defer close(done); _ = m.Run(ctx) }()
		for {
			st := m.Rules()
			all := len(st) == rules
			for _, s := range st {
				if s.Health == "err" {
					cancel()
					<-done
					return 0, 0, fmt.Errorf("rule %s: %s", s.Rule.Alert, s.LastError)
				}
				if !s.LastEval.After(last) {
					all = false
					break
				}
			}
			if all {
				break
			}
			if time.Since(t0) > 2*time.Minute {
				cancel()
				<-done
				return 0, 0, fmt.Errorf("evaluation round not finished in 2 minutes")
			}
			time.Sleep(2 * time.Millisecond)
		}
		d := time.Since(t0)
		cancel()
		<-done
		for _, s := range m.Rules() {
			if s.LastEval.After(last) {
				last = s.LastEval
			}
		}
		if pass > 0 {
			rounds = append(rounds, d)
		}
	}
	return percentile(rounds, 50), percentile(bares, 50), nil
}
