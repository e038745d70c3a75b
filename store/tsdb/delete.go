package tsdb

import (
	"context"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/labels"
)

// DeleteSeries deletes, over all time, every series that matches ms (at least one matcher), and returns how many
// it found. The samples are tombstoned at once: no query sees them again. Their bytes leave the persisted blocks
// when CleanTombstones rewrites them; series still in the head (the last two to three hours) leave memory and
// the write-ahead log at the next head compaction.
func (d *DB) DeleteSeries(ctx context.Context, ms ...*labels.Matcher) (int, error) {
	if len(ms) == 0 {
		return 0, fmt.Errorf("tsdb: delete series: no matcher")
	}
	q, err := d.db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return 0, fmt.Errorf("tsdb: delete series: %w", err)
	}
	n := 0
	ss := q.Select(ctx, false, nil, ms...)
	for ss.Next() {
		n++
	}
	err = ss.Err()
	if cerr := q.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("tsdb: delete series: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	if err := d.db.Delete(ctx, math.MinInt64, math.MaxInt64, ms...); err != nil {
		return 0, fmt.Errorf("tsdb: delete series: %w", err)
	}
	return n, nil
}

// CleanTombstones rewrites the persisted blocks that hold deleted series without them.
func (d *DB) CleanTombstones() error {
	if err := d.db.CleanTombstones(); err != nil {
		return fmt.Errorf("tsdb: clean tombstones: %w", err)
	}
	return nil
}
