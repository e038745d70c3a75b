package promapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/store"
	"citywatch/store/tsdb"
)

// TestSampleCost measures what one sample a query holds costs the heap, at its peak and with the garbage the
// collector has not yet reclaimed, for the two shapes that hold the most: a range query whose whole matrix is
// the answer (result points and the JSON body), and a fine subquery under an aggregation over time. The cost
// must stay under BytesPerSample, the figure behind the default max_samples (docs/configuration.md). It
// asserts a bound on memory, not on time. It is not parallel: it reads the whole process's heap, which
// other tests running beside it would inflate.
func TestSampleCost(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 720,000 samples")
	}
	const series, seconds = 200, 3600
	db, err := tsdb.Open(tsdb.Config{Dir: t.TempDir()}, tsdb.Deps{})
	require.NoError(t, err)
	defer db.Close()
	var ss []store.Sample
	for i := range seconds {
		ss = ss[:0]
		for s := range series {
			ss = append(ss, store.Sample{Name: "load", Labels: []store.Label{{Name: "device", Value: "d" + strconv.Itoa(s)}},
				T: int64(baseSec+i) * 1000, V: float64(i % 97)})
		}
		require.NoError(t, db.Append(context.Background(), ss))
	}
	for _, c := range []struct {
		name    string
		form    url.Values
		samples int // the most the query holds at once: what max_samples counts
	}{
		{"range query matrix", url.Values{"query": {`load`}, "start": {strconv.Itoa(baseSec)}, "end": {strconv.Itoa(baseSec + seconds - 1)}, "step": {"1"}}, series * seconds},
		{"subquery", url.Values{"query": {`count_over_time(load[1h:1s])`}, "time": {strconv.Itoa(baseSec + seconds - 1)}}, series * seconds},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A new engine per case: the engine pools point slices, and a warm pool would hide the cost.
			api, err := New(db, Options{MaxSamples: 10_000_000})
			require.NoError(t, err)
			mux := http.NewServeMux()
			api.Register(mux)
			path := "/api/v1/query"
			if c.form.Has("step") {
				path = "/api/v1/query_range"
			}
			runtime.GC()
			base := heapObjects()
			var peak atomic.Uint64
			done := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for {
					if h := heapObjects(); h > peak.Load() {
						peak.Store(h)
					}
					select {
					case <-done:
						return
					case <-time.After(200 * time.Microsecond):
					}
				}
			}()
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?"+c.form.Encode(), nil))
			close(done)
			<-sampled
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String()[:min(rec.Body.Len(), 300)])
			perSample := float64(peak.Load()-base) / float64(c.samples)
			t.Logf("%s: peak heap +%d MiB for %d samples: %.1f bytes per sample", c.name, (peak.Load()-base)>>20, c.samples, perSample)
			require.Less(t, perSample, float64(BytesPerSample))
		})
	}
}

// heapObjects is the heap's object bytes, live and not yet swept.
func heapObjects() uint64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}
