package tsdb

import (
	"context"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	promtsdb "github.com/prometheus/prometheus/tsdb"
)

// DeleteSeries deletes, over all time, every series that matches ms (at least one matcher), and returns how many
// it found. The samples are tombstoned at once: no query sees them again. Series still in the head (the last two
// to three hours) are evicted from it at once (Prometheus' CompactSelectedSeries: their deleted samples write no
// block), so neither the series API nor label values list them; one that received a sample meanwhile stays
// until the next head compaction. Their bytes leave the persisted blocks when CleanTombstones rewrites them, and
// their label values leave the rewritten blocks' symbol tables too (pruningCompactor). The write-ahead log keeps
// the series' records until its next checkpoint (at a head compaction, every two hours); a restart before it
// replays them, deleted, into the head.
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
	refs, err := d.headRefs(ctx, ms...)
	if err == nil {
		err = d.db.CompactSelectedSeries(refs)
	}
	if err != nil {
		return n, fmt.Errorf("tsdb: delete series: evicting them from the head: %w", err)
	}
	return n, nil
}

// headRefs returns the references of the head series that match ms.
func (d *DB) headRefs(ctx context.Context, ms ...*labels.Matcher) ([]storage.SeriesRef, error) {
	ir, err := d.db.Head().Index()
	if err != nil {
		return nil, err
	}
	defer ir.Close()
	p, err := promtsdb.PostingsForMatchers(ctx, ir, ms...)
	if err != nil {
		return nil, err
	}
	var refs []storage.SeriesRef
	for p.Next() {
		refs = append(refs, p.At())
	}
	return refs, p.Err()
}

// CleanTombstones rewrites the persisted blocks that hold deleted series without them (nor their label values).
func (d *DB) CleanTombstones() error {
	if err := d.db.CleanTombstones(); err != nil {
		return fmt.Errorf("tsdb: clean tombstones: %w", err)
	}
	return nil
}
