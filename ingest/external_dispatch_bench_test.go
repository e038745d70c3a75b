package ingest

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// benchMessage is a received paho message; Ack does nothing.
type benchMessage struct {
	topic   string
	payload []byte
	qos     byte
}

func (m *benchMessage) Duplicate() bool   { return false }
func (m *benchMessage) Qos() byte         { return m.qos }
func (m *benchMessage) Retained() bool    { return false }
func (m *benchMessage) Topic() string     { return m.topic }
func (m *benchMessage) MessageID() uint16 { return 1 }
func (m *benchMessage) Payload() []byte   { return m.payload }
func (m *benchMessage) Ack()              {}

// openClient is a paho client whose connection is open; dispatch asks nothing else of it.
type openClient struct{ paho.Client }

func (openClient) IsConnectionOpen() bool { return true }

// countAppender stores nothing and counts samples.
type countAppender struct{ n atomic.Int64 }

func (a *countAppender) Append(_ context.Context, s []store.Sample) error {
	a.n.Add(int64(len(s)))
	return nil
}

// BenchmarkExternalDispatch is the source's part of external ingest: paho's routing goroutine hands each
// received message to the pipeline (fake mapper, an appender that stores nothing) until every one is
// committed and finished.
func BenchmarkExternalDispatch(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			p, err := NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: fakeMapper{}, Appender: &countAppender{}})
			require.NoError(b, err)
			cfg := testExternalConfig("tcp://127.0.0.1:1", "bench-dispatch", "city/#")
			cfg.QoS = qos
			e, err := NewExternal(cfg, p, ExternalDeps{})
			require.NoError(b, err)
			require.NoError(b, e.Start()) // workers; the connection attempts fail and back off
			defer e.Close()
			conn := newConnection()
			msgs := make([]*benchMessage, 1000)
			for i := range msgs {
				msgs[i] = &benchMessage{topic: fmt.Sprintf("city/d1/s1/dev%d", i), payload: []byte("temperature=21.5;humidity=40"), qos: qos}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for i := range b.N {
				e.dispatch(openClient{}, conn, msgs[i%len(msgs)])
			}
			for e.pending.Load() > 0 {
				runtime.Gosched()
			}
			// CPU time of the process (every goroutine of the path), steadier than wall time on a busy machine.
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user and system CPU time of the process so far, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
