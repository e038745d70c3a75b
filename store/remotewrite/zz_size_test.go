package remotewrite

import (
	"context"
	"strconv"
	"testing"
	"time"

	"citywatch/store"
)

func TestZZSize(t *testing.T) {
	for _, per := range []int{1, 5, 50, 5000} {
		w, _ := New(Config{Name: "b", URL: "http://127.0.0.1:1/x", Edge: "edge-riverside-1", Site: "riverside", QueueDir: t.TempDir(), QueueMaxBytes: 256 << 20, FlushInterval: time.Second}, Deps{})
		n := 0
		names := []string{"temperature", "humidity", "co2", "pm25", "noise"}
		for n < 50000 {
			batch := make([]store.Sample, 0, per)
			for i := 0; i < per; i++ {
				j := n + i
				batch = append(batch, store.Sample{Name: names[j%5], Labels: []store.Label{{Name: "device", Value: "sensor" + strconv.Itoa((j/5)%300)}, {Name: "district", Value: "d" + strconv.Itoa((j/5)%7)}, {Name: "site", Value: "site" + strconv.Itoa((j/5)%12)}}, T: 1765000000000 + int64(j), V: 20.5 + float64(j%17)})
			}
			_ = w.Append(context.Background(), batch)
			n += per
		}
		st := w.Status()
		t.Logf("per append %d: %.1f B/sample", per, float64(st.QueueDiskBytes)/float64(st.QueueSamples))
		w.Close()
	}
}
