package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
)

// QueryFunc evaluates a PromQL expression at ts, as Prometheus' rules.QueryFunc: rules run on whatever engine
// it wraps — the embedded TSDB's (EngineQueryFunc) or a remote query API's (a centre, storage.query). A scalar
// result is a vector of one sample without labels. The vector is the caller's.
type QueryFunc func(ctx context.Context, expr string, ts time.Time) (promql.Vector, error)

// EngineQueryFunc evaluates expressions with engine over q.
func EngineQueryFunc(engine *promql.Engine, q storage.Queryable) QueryFunc {
	return func(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
		qry, err := engine.NewInstantQuery(ctx, q, nil, expr, ts)
		if err != nil {
			return nil, err
		}
		defer qry.Close()
		res := qry.Exec(ctx)
		if res.Err != nil {
			return nil, res.Err
		}
		switch v := res.Value.(type) {
		case promql.Vector:
			out := make(promql.Vector, len(v)) // the engine recycles its vectors on Close
			copy(out, v)
			return out, nil
		case promql.Scalar:
			return promql.Vector{{Metric: labels.EmptyLabels(), T: v.T, F: v.V}}, nil
		default:
			return nil, fmt.Errorf("rule result is %s, not a vector or scalar", res.Value.Type())
		}
	}
}
