package broker

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The benchmarks push b.N sensor messages into the broker and stop the clock when the last one has reached
// its consumer: our ingest hook with a counting Sink ("hook"), or, as the baseline, a bare mochi broker
// (allow-all auth, no citywatch hooks) whose consumer is an inline subscription ("mochi-inline-sub") or a
// paho subscriber over TCP ("mochi-tcp-sub", what an ingest that subscribed as a client would cost).
// Publishers are paho clients over TCP ("tcp-Nclients", a window of 128 unacknowledged messages each) or
// in-process publishes ("inline": Broker.Publish / mochi Server.Publish). Each "hook" result reports
// x-baseline: its ns/op divided by that of the inline-subscriber baseline measured just before in the run.

var benchPayload = []byte(`{"temperature":21.5,"humidity":40.2,"co2":612,"battery":3.61}`)

func benchTopic(client, i int) string {
	return fmt.Sprintf("city/d%d/site%d/sensor%d", client%4, client, i%64)
}

// benchTarget is a broker under benchmark and a count of messages its consumer has seen.
type benchTarget struct {
	url      string
	received func() int64
	dropped  func() int64
	publish  func(topic string, payload []byte, qos byte) error
	close    func()
}

func hookTarget(b *testing.B) *benchTarget {
	sink := &countSink{}
	br, err := New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true}, Deps{Sink: sink})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	return &benchTarget{
		url:      "tcp://" + br.Addrs().TCP,
		received: sink.n.Load,
		dropped:  func() int64 { return 0 },
		publish:  func(t string, p []byte, q byte) error { return br.Publish(t, p, false, q) },
		close:    br.Close,
	}
}

// dropCounter counts messages bare mochi dropped for a slow subscriber.
type dropCounter struct {
	mochi.HookBase
	n atomic.Int64
}

func (d *dropCounter) ID() string                                     { return "drops" }
func (d *dropCounter) Provides(b byte) bool                           { return b == mochi.OnPublishDropped }
func (d *dropCounter) OnPublishDropped(*mochi.Client, packets.Packet) { d.n.Add(1) }

func mochiTarget(b *testing.B, tcpSub bool, qos byte) *benchTarget {
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	drops := &dropCounter{}
	for _, h := range []mochi.Hook{new(auth.AllowHook), drops} {
		if err := srv.AddHook(h, nil); err != nil {
			b.Fatal(err)
		}
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		b.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	t := &benchTarget{
		url:      "tcp://" + tcp.Address(),
		received: n.Load,
		dropped:  drops.n.Load,
		publish:  func(t string, p []byte, q byte) error { return srv.Publish(t, p, false, q) },
	}
	var sub paho.Client
	if tcpSub {
		sub = paho.NewClient(clientOpts(t.url, "bench-sub", "", ""))
		if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("subscriber connect: %v", tok.Error())
		}
		tok := sub.Subscribe("city/#", qos, func(paho.Client, paho.Message) { n.Add(1) })
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("subscribe: %v", tok.Error())
		}
	} else if err := srv.Subscribe("city/#", 1, func(*mochi.Client, packets.Subscription, packets.Packet) { n.Add(1) }); err != nil {
		b.Fatal(err)
	}
	t.close = func() {
		if sub != nil {
			sub.Disconnect(0)
		}
		_ = srv.Close()
	}
	return t
}

// pushTCP publishes n messages from clients paho clients and returns when the consumer has seen them all
// (or they were dropped, which only the TCP-subscriber baseline can do).
func pushTCP(b *testing.B, t *benchTarget, clients, n int, qos byte) {
	cs := make([]paho.Client, clients)
	for i := range cs {
		cs[i] = paho.NewClient(clientOpts(t.url, fmt.Sprintf("bench-pub-%d", i), "", "").SetMaxResumePubInFlight(128))
		if tok := cs[i].Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("connect: %v", tok.Error())
		}
	}
	defer func() {
		for _, c := range cs {
			c.Disconnect(0)
		}
	}()
	start := t.received() + t.dropped()
	b.ResetTimer()
	var wg sync.WaitGroup
	for ci, c := range cs {
		share := n / clients
		if ci == 0 {
			share += n % clients
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			const window = 128
			toks := make([]paho.Token, 0, window)
			for i := 0; i < share; i++ {
				if len(toks) == window {
					toks[0].Wait()
					toks = toks[1:]
				}
				toks = append(toks, c.Publish(benchTopic(ci, i), qos, false, benchPayload))
			}
			for _, tok := range toks {
				if tok.Wait(); tok.Error() != nil {
					b.Error(tok.Error())
				}
			}
		}()
	}
	wg.Wait()
	waitCount(b, t, start+int64(n))
	b.StopTimer()
}

func waitCount(b *testing.B, t *benchTarget, want int64) {
	deadline := time.Now().Add(60 * time.Second)
	for t.received()+t.dropped() < want {
		if time.Now().After(deadline) {
			b.Fatalf("consumer saw %d (+%d dropped) of %d messages", t.received(), t.dropped(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func pushInline(b *testing.B, t *benchTarget, n int, qos byte) {
	start := t.received()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		if err := t.publish(benchTopic(0, i), benchPayload, qos); err != nil {
			b.Fatal(err)
		}
	}
	waitCount(b, t, start+int64(n))
	b.StopTimer()
}

func benchIngest(b *testing.B, qos byte) {
	type variant struct {
		name   string
		target func(*testing.B) *benchTarget
		push   func(*testing.B, *benchTarget)
	}
	tcp := func(clients int) func(*testing.B, *benchTarget) {
		return func(b *testing.B, t *benchTarget) { pushTCP(b, t, clients, b.N, qos) }
	}
	inline := func(b *testing.B, t *benchTarget) { pushInline(b, t, b.N, qos) }
	hook := hookTarget
	inlineSub := func(b *testing.B) *benchTarget { return mochiTarget(b, false, qos) }
	tcpSub := func(b *testing.B) *benchTarget { return mochiTarget(b, true, qos) }
	variants := []variant{
		{"tcp-1client/mochi-inline-sub", inlineSub, tcp(1)},
		{"tcp-1client/mochi-tcp-sub", tcpSub, tcp(1)},
		{"tcp-1client/hook", hook, tcp(1)},
		{"tcp-4clients/mochi-inline-sub", inlineSub, tcp(4)},
		{"tcp-4clients/hook", hook, tcp(4)},
		{"inline/mochi-inline-sub", inlineSub, inline},
		{"inline/hook", hook, inline},
	}
	nsPerOp := map[string]float64{}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			b.StopTimer()
			t := v.target(b)
			defer t.close()
			b.StartTimer()
			v.push(b, t)
			if d := t.dropped(); d > 0 {
				b.ReportMetric(float64(d)/float64(b.N), "dropped/op")
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			nsPerOp[v.name] = ns
			// The ratio to the inline-subscriber baseline of the same publisher, measured just before.
			if pub, consumer, _ := strings.Cut(v.name, "/"); consumer == "hook" && nsPerOp[pub+"/mochi-inline-sub"] > 0 {
				b.ReportMetric(ns/nsPerOp[pub+"/mochi-inline-sub"], "x-baseline")
			}
		})
	}
}

// BenchmarkIngestQoS0 measures QoS 0 messages from publisher to Sink against a bare-mochi baseline.
func BenchmarkIngestQoS0(b *testing.B) { benchIngest(b, 0) }

// BenchmarkIngestQoS1 measures QoS 1 messages from publisher to Sink against a bare-mochi baseline.
func BenchmarkIngestQoS1(b *testing.B) { benchIngest(b, 1) }
