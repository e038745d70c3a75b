package promapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/store"
	"citywatch/store/tsdb"
)

// BenchmarkQueryRange runs a 1h range query with a 15s step over 1,000 series (241 points each) through the
// HTTP handler, JSON encoding included. It reports the ratio to a baseline measured in the same run: the
// same query through the PromQL engine alone, without HTTP and JSON.
func BenchmarkQueryRange(b *testing.B) {
	db, err := tsdb.Open(tsdb.Config{Dir: b.TempDir()}, tsdb.Deps{})
	require.NoError(b, err)
	defer db.Close()
	const series, step = 1000, 15
	start := int64(baseSec)
	var ss []store.Sample
	for i := range 3600/step + 1 {
		ss = ss[:0]
		for s := range series {
			ss = append(ss, store.Sample{
				Name:   "temperature",
				Labels: []store.Label{{Name: "device", Value: "s" + strconv.Itoa(s)}, {Name: "site", Value: "A"}},
				T:      (start + int64(i*step)) * 1000,
				V:      float64(s + i),
			})
		}
		require.NoError(b, db.Append(context.Background(), ss))
	}
	api, err := New(db, Options{})
	require.NoError(b, err)
	mux := http.NewServeMux()
	api.Register(mux)
	form := url.Values{"query": {"temperature"}, "start": {strconv.FormatInt(start, 10)},
		"end": {strconv.FormatInt(start+3600, 10)}, "step": {strconv.Itoa(step)}}
	target := "/api/v1/query_range?" + form.Encode()

	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for range b.N {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		size = rec.Body.Len()
	}
	b.StopTimer()
	httpNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(float64(size), "response_bytes")

	// Baseline: the engine alone, as many runs.
	t0 := time.Now()
	for range b.N {
		qry, err := api.Engine().NewRangeQuery(context.Background(), db, nil, "temperature",
			time.Unix(start, 0), time.Unix(start+3600, 0), step*time.Second)
		require.NoError(b, err)
		res := qry.Exec(context.Background())
		require.NoError(b, res.Err)
		qry.Close()
	}
	engineNs := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	b.ReportMetric(engineNs, "engine_ns/op")
	b.ReportMetric(httpNs/engineNs, "x_engine_only")
}
