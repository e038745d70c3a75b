package mapping

import (
	"testing"
	"time"
)

var (
	benchTopic = "city/d1/siteA/sensor42"
	benchJSON  = []byte(`{"temperature":21.5,"humidity":40,"co2":612,"pm25":3.2,"battery":3.61}`)
	benchLine  = []byte("weather,room=lab,floor=2 temperature=21.5,humidity=40i,co2=612i,pm25=3.2,battery=3.61 1700000000000000000\n")
)

func benchMap(b *testing.B, topic string, payload []byte, samples int) {
	m, err := New(nil, Options{DefaultMapping: true})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		res, err := m.Map(topic, payload, now)
		if err != nil || len(res.Samples) != samples {
			b.Fatalf("%d samples, %v", len(res.Samples), err)
		}
	}
}

// BenchmarkMapJSON5Fields is the ingest hot path: default mapping of a 5-field flat JSON message.
func BenchmarkMapJSON5Fields(b *testing.B) { benchMap(b, benchTopic, benchJSON, 5) }

// BenchmarkMapLineProtocol maps one line-protocol line with 2 tags and 5 fields.
func BenchmarkMapLineProtocol(b *testing.B) { benchMap(b, benchTopic, benchLine, 5) }

// BenchmarkMapNumber maps a plain number on a metric topic.
func BenchmarkMapNumber(b *testing.B) { benchMap(b, benchTopic+"/co2", []byte("612"), 1) }

// BenchmarkMapJSON5FieldsParallel runs the hot path on every P, as the ingest workers do.
func BenchmarkMapJSON5FieldsParallel(b *testing.B) {
	m, err := New(nil, Options{DefaultMapping: true})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Map(benchTopic, benchJSON, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
