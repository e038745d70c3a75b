package sim

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"citywatch/internal/testenv"
)

// waitFor polls cond until it holds or the timeout passes (a hang guard, not a timing assertion).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, timeout, 10*time.Millisecond, func() string {
		if cond() {
			return ""
		}
		return "waiting for " + what
	})
}

// fakePublisher records publishes, or fails them with err.
type fakePublisher struct {
	mu   sync.Mutex
	msgs []SensorMessage
	err  error
}

func (p *fakePublisher) Publish(_ context.Context, topic string, qos byte, payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.msgs = append(p.msgs, SensorMessage{Topic: topic, Payload: append([]byte(nil), payload...)})
	return nil
}

func (p *fakePublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

// runSensors starts s.Run and returns a stop function that cancels it and returns Run's result.
func runSensors(t *testing.T, s *Sensors) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				err = errors.New("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestSensorsRunSpreadsDevices(t *testing.T) {
	pub := &fakePublisher{}
	reg := prometheus.NewRegistry()
	s, err := NewSensors(SensorsConfig{Devices: 5, Rate: 40, Seed: 1}, SensorsDeps{Publisher: pub, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSensors(t, s)
	waitFor(t, 20*time.Second, "200 messages", func() bool { return pub.count() >= 200 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	pub.mu.Lock()
	msgs := append([]SensorMessage(nil), pub.msgs...)
	pub.mu.Unlock()
	perDevice := map[string]uint64{}
	for _, m := range msgs {
		var body struct{ Seq uint64 }
		if err := json.Unmarshal(m.Payload, &body); err != nil {
			t.Fatalf("payload %q: %v", m.Payload, err)
		}
		if want := perDevice[m.Topic] + 1; body.Seq != want {
			t.Fatalf("%s seq %d, want %d", m.Topic, body.Seq, want)
		}
		perDevice[m.Topic] = body.Seq
	}
	if len(perDevice) != 5 {
		t.Fatalf("messages from %d devices, want 5", len(perDevice))
	}
	lo, hi := uint64(1<<63), uint64(0)
	for _, n := range perDevice {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		t.Fatalf("devices published unevenly: %v", perDevice)
	}
	st := s.Stats()
	if st.Published != uint64(len(msgs)) || st.Errors != 0 {
		t.Fatalf("stats %+v, want %d published and no errors", st, len(msgs))
	}
	if got := testutil.ToFloat64(s.mPublished); got != float64(len(msgs)) {
		t.Fatalf("citywatch_sim_messages_published_total = %v, want %d", got, len(msgs))
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 4 {
		t.Fatalf("registered %d metrics (%v), want 4", n, err)
	}
}

func TestSensorsCountsAndRateLimitsErrors(t *testing.T) {
	pub := &fakePublisher{err: errors.New("broker said no")}
	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	s, err := NewSensors(SensorsConfig{Devices: 10, Rate: 20, Password: "s3cret-pw", Username: "sim",
		Faults: Faults{MalformedRatio: 0.5}}, SensorsDeps{Publisher: pub, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSensors(t, s)
	waitFor(t, 20*time.Second, "100 errors", func() bool { return s.Stats().Errors >= 100 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Published != 0 || st.Malformed == 0 {
		t.Fatalf("stats %+v: want no publishes and some malformed", st)
	}
	out := logs.String()
	if n := strings.Count(out, "publish failed"); n < 1 || n > 3 {
		t.Fatalf("%d 'publish failed' log lines for %d errors, want 1–3 (rate-limited):\n%s", n, st.Errors, out)
	}
	if !strings.Contains(out, "broker said no") || !strings.Contains(out, "component=sim.sensors") {
		t.Fatalf("log lacks the error or the component:\n%s", out)
	}
	if strings.Contains(out, "s3cret-pw") {
		t.Fatalf("password leaked into the log:\n%s", out)
	}
}

func TestNewSensorsRejectsBadConfig(t *testing.T) {
	_, err := NewSensors(SensorsConfig{Rate: -1}, SensorsDeps{})
	if err == nil || !strings.Contains(err.Error(), "rate: must be > 0") {
		t.Fatalf("NewSensors error = %v", err)
	}
	err = RunSensors(context.Background(), SensorsConfig{Broker: "udp://x"}, nil)
	if err == nil || !strings.Contains(err.Error(), `unsupported scheme "udp"`) {
		t.Fatalf("RunSensors error = %v", err)
	}
}

// subscriber counts messages per topic and remembers the highest seq seen, from a real MQTT subscription.
type subscriber struct {
	mu      sync.Mutex
	count   map[string]int
	lastSeq map[string]uint64
	gaps    []string
	subs    int // completed subscriptions, one per (re)connect
}

func subscribe(t *testing.T, url string) *subscriber {
	t.Helper()
	sub := &subscriber{count: map[string]int{}, lastSeq: map[string]uint64{}}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		var body struct{ Seq uint64 }
		if err := json.Unmarshal(m.Payload(), &body); err != nil {
			t.Errorf("payload %q on %s: %v", m.Payload(), m.Topic(), err)
			return
		}
		sub.mu.Lock()
		defer sub.mu.Unlock()
		if prev, ok := sub.lastSeq[m.Topic()]; ok && body.Seq != prev+1 {
			sub.gaps = append(sub.gaps, m.Topic())
		}
		sub.count[m.Topic()]++
		sub.lastSeq[m.Topic()] = body.Seq
	}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID("sim-test-sub").SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Clean session: subscribe again after every (re)connect. Handlers run on paho's goroutine,
			// so wait for the SUBACK elsewhere.
			tok := c.Subscribe("city/#", 1, handler)
			go func() {
				if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
					sub.mu.Lock()
					sub.subs++
					sub.mu.Unlock()
				}
			}()
		})
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	waitFor(t, 10*time.Second, "subscription", func() bool {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		return sub.subs > 0
	})
	return sub
}

func (s *subscriber) snapshot() (map[string]int, map[string]uint64, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, q := map[string]int{}, map[string]uint64{}
	for k, v := range s.count {
		c[k] = v
	}
	for k, v := range s.lastSeq {
		q[k] = v
	}
	return c, q, append([]string(nil), s.gaps...)
}

// TestSensorsMosquitto publishes to a real mosquitto at QoS 1, checks a subscriber gets every device's
// messages without seq gaps, then kills the broker, restarts it on the same port and checks the simulator
// reconnects by itself.
func TestSensorsMosquitto(t *testing.T) {
	broker := testenv.Mosquitto(t)
	sub := subscribe(t, broker.URL)

	s, err := NewSensors(SensorsConfig{Broker: broker.URL, ClientID: "sim-test-pub", Devices: 6, Rate: 20, QoS: 1},
		SensorsDeps{Logger: slog.New(slog.NewTextHandler(&testenv.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSensors(t, s)

	everyDevice := func(min int) func() bool {
		return func() bool {
			c, _, _ := sub.snapshot()
			if len(c) != 6 {
				return false
			}
			for _, n := range c {
				if n < min {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, 30*time.Second, "10 messages from each of 6 devices", everyDevice(10))
	counts, seqs, gaps := sub.snapshot()
	if len(gaps) > 0 {
		t.Fatalf("seq gaps at QoS 1 on loopback: %v", gaps)
	}
	for _, d := range s.Devices() {
		if counts[d.Topic()] == 0 {
			t.Fatalf("no messages on %s", d.Topic())
		}
	}

	// Broker outage: publishes fail (counted), then the simulator reconnects and carries on.
	broker.Kill()
	errsBefore := s.Stats().Errors
	waitFor(t, 30*time.Second, "publish errors while the broker is down", func() bool { return s.Stats().Errors > errsBefore })
	broker.Start()
	waitFor(t, 60*time.Second, "messages after the broker restart", func() bool {
		_, now, _ := sub.snapshot()
		for topic, q := range seqs {
			if now[topic] < q+10 {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Published == 0 || st.Errors == 0 {
		t.Fatalf("stats %+v: want publishes and counted errors from the outage", st)
	}
}
