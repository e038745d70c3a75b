package rules_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"citywatch/alerts"
	"citywatch/deploy/rules"
	"citywatch/store"
	"citywatch/store/tsdb"
)

// BenchmarkWearableSilentAtScale evaluates the default WearableSilent expression once per iteration over the
// device_last_seen_seconds series of 166,667 devices (a million series at six fields), none of them a
// wearable: the cost is the six selectors' walk over every device name. B/op is the garbage one evaluation
// leaves (go test -bench WearableSilentAtScale -benchmem ./deploy/rules/).
func BenchmarkWearableSilentAtScale(b *testing.B) {
	db, err := tsdb.Open(tsdb.Config{Dir: b.TempDir()}, tsdb.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	const devices = 166_667
	batch := make([]store.Sample, 0, 1000)
	for d := range devices {
		batch = append(batch, store.Sample{Name: "device_last_seen_seconds", Labels: []store.Label{
			{Name: "device", Value: "dev" + strconv.Itoa(d)}, {Name: "district", Value: "d" + strconv.Itoa(d%10)},
			{Name: "site", Value: "site" + strconv.Itoa(d%50)}}, T: now.UnixMilli(), V: 1})
		if len(batch) == cap(batch) || d == devices-1 {
			if err := db.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	rs, err := alerts.ParseRuleFile(rules.DefaultName, []byte(rules.Default))
	if err != nil {
		b.Fatal(err)
	}
	expr := ""
	for _, r := range rs {
		if r.Alert == "WearableSilent" {
			expr = r.Expr
		}
	}
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		q, err := eng.NewInstantQuery(context.Background(), db, nil, expr, now)
		if err != nil {
			b.Fatal(err)
		}
		if res := q.Exec(context.Background()); res.Err != nil {
			b.Fatal(res.Err)
		}
		q.Close()
	}
}
