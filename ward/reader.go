package ward

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// Point is one sample.
type Point struct {
	T time.Time
	V float64
}

// Reader reads the samples of one series family: metric with the given label values, in [from, to].
type Reader interface {
	Points(ctx context.Context, metric string, match map[string]string, from, to time.Time) ([]Point, error)
}

// QueryableReader reads from a Prometheus storage.Queryable (the embedded TSDB). It never returns staleness
// markers; several matching series are merged in time order per series.
type QueryableReader struct{ Q storage.Queryable }

// Points implements Reader.
func (r QueryableReader) Points(ctx context.Context, metric string, match map[string]string, from, to time.Time) ([]Point, error) {
	q, err := r.Q.Querier(from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("ward: read %s: %w", metric, err)
	}
	defer q.Close()
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, metric)}
	for k, v := range match {
		ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, k, v))
	}
	set := q.Select(ctx, false, nil, ms...)
	var out []Point
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			t, v := it.At()
			if value.IsStaleNaN(v) || math.IsNaN(v) {
				continue
			}
			out = append(out, Point{T: time.UnixMilli(t).UTC(), V: v})
		}
		if err := it.Err(); err != nil {
			return nil, fmt.Errorf("ward: read %s: %w", metric, err)
		}
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("ward: read %s: %w", metric, err)
	}
	return out, nil
}
