package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"citywatch/ingest/ingesttest"
)

// BenchmarkEmbeddedPipeline measures what `citywatch serve` does with MQTT: 4 paho publishers (128
// unacknowledged messages each at QoS 1) → embedded broker → ingest pipeline (default mapping) → TSDB on disk.
// The clock stops when the pipeline has handled every message. It reports msg/s and the CPU time of the whole
// process per message (steadier than wall time on a shared machine).
func BenchmarkEmbeddedPipeline(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos=%d", qos), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			p := ingesttest.NewTSDBPipeline(b, reg)
			br, err := New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true}, Deps{Sink: p})
			if err != nil {
				b.Fatal(err)
			}
			if err := br.Start(); err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			handled := func() int64 {
				v, _ := gatherValue(reg, "citywatch_ingest_messages_total")
				return int64(v)
			}
			const clients = 4
			cs := make([]paho.Client, clients)
			for i := range cs {
				cs[i] = paho.NewClient(clientOpts("tcp://"+br.Addrs().TCP, fmt.Sprintf("pub-%d", i), "", ""))
				if tok := cs[i].Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					b.Fatalf("connect: %v", tok.Error())
				}
				defer cs[i].Disconnect(0)
			}
			cpu0 := ingesttest.CPUTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for ci, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var toks []paho.Token
					for i := ci; i < b.N; i += clients {
						if qos > 0 && len(toks) == 128 {
							toks[0].Wait()
							toks = toks[1:]
						}
						toks = append(toks, c.Publish(benchTopic(ci, i), qos, false, benchPayload))
					}
					for _, tok := range toks {
						tok.Wait()
					}
				}()
			}
			wg.Wait()
			deadline := time.Now().Add(2 * time.Minute)
			for handled() < int64(b.N) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			if n := handled(); n < int64(b.N) {
				b.Fatalf("pipeline handled %d of %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
			b.ReportMetric(float64((ingesttest.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// gatherValue sums the counter named name over its label sets.
func gatherValue(g prometheus.Gatherer, name string) (float64, bool) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum, true
		}
	}
	return 0, false
}
