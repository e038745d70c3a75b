package notify

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"citywatch/internal/testenv"
)

// BenchmarkOutboxThroughput measures sustained deliveries per second through the durable outbox (enqueue in
// batched transactions, claim, POST, record) to a fast local receiver, and the same receiver hit directly by
// as many concurrent clients, as a baseline measured in the same run.
func BenchmarkOutboxThroughput(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	defer srv.Close()
	const conc = 8
	n := max(b.N, 2000)

	// Baseline: direct POSTs of the same size with the same concurrency.
	c := toStored(goldenChanges["firing"])
	body, _, _ := render(&compiledReceiver{Receiver: Receiver{Format: FormatCitywatch}}, buildPayload("k", "r", "", c), c, "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	start := time.Now()
	if err := testenv.PostConcurrently(client, srv.URL, body, n, conc); err != nil {
		b.Fatal(err)
	}
	baseline := float64(n) / time.Since(start).Seconds()

	db, _ := openTestDB(b)
	o, err := NewOutbox(Config{Receivers: []Receiver{{Name: "fast", URL: srv.URL, AllowPrivate: true, MaxConcurrency: conc,
		Secrets: []string{"a-raw-secret-used-as-bytes"}}}, DefaultReceiver: "fast"}, Deps{DB: db})
	if err != nil {
		b.Fatal(err)
	}
	got.Store(0)
	b.ResetTimer()
	start = time.Now()
	if err := o.Start(); err != nil {
		b.Fatal(err)
	}
	// Enqueue while delivering, in transactions of 200 changes, like a burst of alerts.
	for i := 0; i < n; i += 200 {
		var cs []Change
		for j := i; j < min(i+200, n); j++ {
			ch := goldenChanges["firing"]
			ch.Fingerprint = fmt.Sprintf("bench-%d", j)
			cs = append(cs, ch)
		}
		enqueue(b, db, o, cs...)
	}
	for {
		var left int
		if err := db.QueryRow(`SELECT COUNT(*) FROM notify_deliveries WHERE status IN ('pending','delivering')`).Scan(&left); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	o.Close()
	rate := float64(n) / elapsed.Seconds()
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(baseline, "direct_posts/s")
	b.ReportMetric(rate/baseline, "ratio_vs_direct")
	if got.Load() < int64(n) {
		b.Fatalf("receiver got %d of %d", got.Load(), n)
	}
}
