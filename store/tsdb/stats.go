package tsdb

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
)

// HeadStats returns the head block's statistics (series, time range, and the limit largest entries of each
// cardinality list by metric name) and the number of chunks in the head, for the Prometheus API's
// /api/v1/status/tsdb. The chunks are counted series by series from the head index (the TSDB keeps its own
// count only in a metric), so the cost grows with the head's series.
func (d *DB) HeadStats(limit int) (*promtsdb.Stats, int64, error) {
	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closed {
		return nil, 0, ErrClosed
	}
	head := d.db.Head()
	stats := head.Stats(labels.MetricName, limit)
	ir, err := head.Index()
	if err != nil {
		return nil, 0, fmt.Errorf("store/tsdb: head index: %w", err)
	}
	defer ir.Close()
	name, value := index.AllPostingsKey()
	p, err := ir.Postings(context.Background(), name, value)
	if err != nil {
		return nil, 0, fmt.Errorf("store/tsdb: head postings: %w", err)
	}
	var (
		n    int64
		b    labels.ScratchBuilder
		chks []chunks.Meta
	)
	for p.Next() {
		if err := ir.Series(p.At(), &b, &chks); err != nil {
			continue // the series was garbage-collected since the postings were read
		}
		n += int64(len(chks))
	}
	if err := p.Err(); err != nil {
		return nil, 0, fmt.Errorf("store/tsdb: head postings: %w", err)
	}
	return stats, n, nil
}
