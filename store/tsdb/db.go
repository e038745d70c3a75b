// Package tsdb is the embedded time-series store: a Prometheus TSDB (write-ahead log, head block, compaction,
// retention, out-of-order window) in a data directory, behind the store.Appender contract and the
// storage.Queryable interface that PromQL reads.
package tsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
)

// Defaults applied by Open to zero Config fields.
const (
	// DefaultRetention is how long samples are kept when Config.Retention is zero.
	DefaultRetention = 15 * 24 * time.Hour
	// DefaultOutOfOrderWindow is how far behind the newest sample a late sample may be when
	// Config.OutOfOrderWindow is zero.
	DefaultOutOfOrderWindow = time.Hour
	// DefaultMaxFutureSkew is how far ahead of the clock a sample may be when Config.MaxFutureSkew is zero.
	DefaultMaxFutureSkew = 10 * time.Minute

	maxBlockDuration = 31 * 24 * time.Hour
)

// ErrClosed is returned by Append and the queriers once the DB is closed.
var ErrClosed = errors.New("store/tsdb: database is closed")

// Config configures the embedded TSDB.
type Config struct {
	// Dir is the data directory. It is created if missing. Required.
	Dir string
	// Retention is how long samples are kept; older blocks are deleted. It defaults to 15d.
	Retention time.Duration
	// OutOfOrderWindow is how far behind the newest sample of the database a late sample may be and still be
	// stored (buffered devices, clock skew). Later ones are rejected with reason "too_old". It defaults to 1h;
	// a negative value disables out-of-order ingestion (late samples are rejected as "out_of_order" or
	// "out_of_bounds").
	OutOfOrderWindow time.Duration
	// MaxFutureSkew is how far ahead of the clock a sample may be stamped. Later samples are refused with reason
	// "future" (store.ReasonFuture) whoever the caller, because one would move the newest time of the database
	// ahead and the out-of-order window would then refuse the present. Open moves samples beyond it, written by
	// older versions, to the quarantine directory. It defaults to 10m; a negative value disables both.
	MaxFutureSkew time.Duration
	// MaxHeadSeries bounds the series of the in-memory head block. Samples that would create a series beyond it
	// are refused with reason "series_limit" (store.ReasonSeriesLimit); existing series keep flowing. The bound
	// is soft by the number of concurrent appends. It defaults to AutoMaxHeadSeries (a quarter of the process's memory at 4 KiB per
	// series, between 10,000 and 2,000,000); a negative value disables it.
	MaxHeadSeries int
}

// Deps are the DB's collaborators. Every field may be nil.
type Deps struct {
	// Logger receives TSDB events (WAL replay, compaction); nil discards them.
	Logger *slog.Logger
	// Registerer receives the citywatch_tsdb_* and citywatch_store_* metrics and the TSDB's own metrics under
	// a "citywatch_" prefix; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock is the clock of the future check (internal/clock). It defaults to the real one.
	Clock clock.Clock
}

// DB is an open embedded TSDB. It implements store.Appender and storage.Queryable and is safe for concurrent
// use.
type DB struct {
	cfg     Config
	db      *promtsdb.DB
	logger  *slog.Logger
	reg     *trackingRegisterer
	lock    *dirLock
	metrics *metrics
	now     func() time.Time

	shards  [numShards]shard
	batches sync.Pool // *batch

	// closeMu is held for reading by every Append and querier creation, and for writing by Close, so Close
	// waits for in-flight appends and nothing touches the TSDB after it. Start's opening goroutine holds it for
	// writing until the TSDB is open (or failed to open), so everything waits for the open.
	closeMu  sync.RWMutex
	closed   bool
	closeErr error

	opened  chan struct{} // closed when the background open of Start has ended
	openErr error         // the open's error; set before opened is closed
}

var (
	_ store.Appender                  = (*DB)(nil)
	_ storage.Queryable               = (*DB)(nil)
	_ storage.ChunkQueryable          = (*DB)(nil)
	_ storage.SampleAndChunkQueryable = (*DB)(nil)
)

// Open opens (or creates) the TSDB in cfg.Dir, replaying its write-ahead log. Errors about the directory say
// what is wrong and how to fix it; they match ErrDirInUse, ErrDirNotWritable or ErrNotDirectory with
// errors.Is.
func Open(cfg Config, deps Deps) (*DB, error) {
	d, err := Start(cfg, deps)
	if err != nil {
		return nil, err
	}
	if err := d.WaitOpen(); err != nil {
		return nil, err
	}
	return d, nil
}

// Start checks and locks cfg.Dir as Open does and returns at once; the TSDB opens in the background (the
// write-ahead log replay: seconds of CPU at a million series), so that the caller can build what does not read
// or write samples meanwhile (the metadata database, the device registry's restore). Until the open has ended,
// Append, the queriers, Ready and Close wait for it. WaitOpen returns the open's error; after a failed open
// the DB is closed (the directory released, the metrics unregistered) and Close returns nil. Errors about the
// directory itself come from Start, before anything is read, as from Open.
func Start(cfg Config, deps Deps) (*DB, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	logger := logx.Component(deps.Logger, "tsdb")

	if err := prepareDir(cfg.Dir); err != nil {
		return nil, err
	}

	// The lock is taken here rather than by the TSDB so that a directory in use fails before anything is
	// registered or read.
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	now := clock.Or(deps.Clock).Now
	d := &DB{
		cfg:    cfg,
		logger: logger,
		reg:    newTrackingRegisterer(deps.Registerer),
		lock:   lock,
		now:    now,
		opened: make(chan struct{}),
	}
	d.closeMu.Lock()
	go func() {
		defer close(d.opened)
		defer d.closeMu.Unlock()
		if d.openErr = d.open(deps.Registerer != nil); d.openErr != nil {
			d.closed = true
		}
	}()
	return d, nil
}

// WaitOpen waits until the open begun by Start has ended and returns its error.
func (d *DB) WaitOpen() error {
	<-d.opened
	return d.openErr
}

// open opens the Prometheus TSDB in the locked directory; Start's goroutine runs it holding closeMu. On failure
// it releases the directory and the metrics.
func (d *DB) open(registered bool) error {
	cfg, logger, reg := d.cfg, d.logger, d.reg
	opts := promtsdb.DefaultOptions()
	opts.NoLockfile = true
	opts.RetentionDuration = cfg.Retention.Milliseconds()
	if cfg.OutOfOrderWindow > 0 {
		opts.OutOfOrderTimeWindow = cfg.OutOfOrderWindow.Milliseconds()
	}
	opts.WALCompression = compression.Snappy
	// Isolation (a query sees a commit whole or not at all) costs a transaction ring per head series, about 60
	// bytes each (6 % of the head at a million series), and a lock per append and per querier. citywatch's
	// readers do not need it: a query that runs during a commit may see some of its series already updated and
	// others not yet, as if the commit were two; the next evaluation sees all of it. Measured with
	// BenchmarkPipelineSeriesMemory (ingest): 952 → 881 bytes of Go heap per series.
	opts.IsolationDisabled = true
	// As Prometheus does: compact up to a tenth of the retention (at most 31d), so that retention deletes
	// data in small steps and the block count stays low.
	opts.MaxBlockDuration = min(max(opts.RetentionDuration/10, opts.MinBlockDuration), maxBlockDuration.Milliseconds())
	opts.NewCompactorFunc = newPruningCompactor // deleted series' label values leave the rewritten blocks

	var tsdbReg prometheus.Registerer
	if registered {
		tsdbReg = prometheus.WrapRegistererWithPrefix("citywatch_", reg)
	}
	pdb, recovered, err := openRecovering(cfg, opts, logger, reg, tsdbReg, d.now)
	if err != nil {
		reg.unregisterAll()
		return errors.Join(err, d.lock.release())
	}
	d.db = pdb
	for i := range d.shards {
		d.shards[i].init(d.now())
	}
	d.metrics = newMetrics(reg, pdb.Head().NumSeries)
	d.metrics.futureQuarantined.Add(float64(recovered.quarantined))
	newRecoveryMetrics(reg, recovered)
	logger.Info("TSDB opened", "dir", cfg.Dir, "retention", cfg.Retention, "out_of_order_window",
		cfg.OutOfOrderWindow, "head_series", pdb.Head().NumSeries(), "max_head_series", cfg.MaxHeadSeries)
	return nil
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("store/tsdb: data directory is required")
	}
	if c.Retention < 0 {
		return c, fmt.Errorf("store/tsdb: retention must be >= 0, got %s", c.Retention)
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Retention < time.Millisecond {
		return c, fmt.Errorf("store/tsdb: retention must be at least 1ms, got %s", c.Retention)
	}
	if c.OutOfOrderWindow == 0 {
		c.OutOfOrderWindow = DefaultOutOfOrderWindow
	}
	if c.OutOfOrderWindow > 0 && c.OutOfOrderWindow < time.Millisecond {
		return c, fmt.Errorf("store/tsdb: out-of-order window must be at least 1ms, got %s", c.OutOfOrderWindow)
	}
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = DefaultMaxFutureSkew
	}
	if c.MaxHeadSeries == 0 {
		c.MaxHeadSeries = AutoMaxHeadSeries()
	}
	return c, nil
}

// openRecovering opens the Prometheus TSDB in cfg.Dir. When the directory holds samples stamped beyond
// now+MaxFutureSkew (written by an older version) it moves them to the quarantine directory first (blocks) or
// after the WAL replay (head), and opens it again (future.go).
func openRecovering(cfg Config, opts *promtsdb.Options, logger *slog.Logger, reg *trackingRegisterer,
	tsdbReg prometheus.Registerer, now func() time.Time) (*promtsdb.DB, recovery, error) {
	ctx := context.Background()
	start := now()
	limit := start.Add(cfg.MaxFutureSkew).UnixMilli()
	q := newQuarantine(cfg.Dir, start)
	var rec recovery
	recoverOK := cfg.MaxFutureSkew >= 0
	last := lastWrite(cfg.Dir)
	clockBehind := recoverOK && last.After(start.Add(cfg.MaxFutureSkew))
	if recoverOK {
		n, blocks, err := recoverBlocks(ctx, cfg.Dir, limit, q, logger)
		if err != nil {
			return nil, rec, fmt.Errorf("store/tsdb: %s: quarantining samples stamped in the future (files moved so far are in %s): %w",
				cfg.Dir, q.dir, err)
		}
		if n > 0 {
			logger.Warn("TSDB blocks recovered from samples stamped in the future", "dir", cfg.Dir,
				"quarantined_samples", n, "blocks", blocks, "quarantine", q.dir)
		}
		rec.quarantined += n
	}
	pdb, err := promtsdb.Open(cfg.Dir, logger, tsdbReg, opts, nil)
	if err != nil {
		return nil, rec, openError(cfg.Dir, err)
	}
	if !recoverOK {
		return pdb, rec, nil
	}
	n, err := headFuture(ctx, pdb, limit)
	if err != nil {
		return nil, rec, errors.Join(fmt.Errorf("store/tsdb: %s: looking for samples stamped in the future: %w", cfg.Dir, err), pdb.Close())
	}
	if n > 0 {
		logger.Warn("TSDB head holds samples stamped in the future (written by an older version); moving them to the "+
			"quarantine directory so that present samples are accepted again", "dir", cfg.Dir, "future_samples", n,
			"head_max_time", pdb.Head().MaxTime(), "limit", time.UnixMilli(limit).UTC())
		floor := start.Add(-cfg.Retention).UnixMilli()
		kept, err := recoverHead(ctx, pdb, cfg.Dir, floor, limit, q, logger)
		if err != nil {
			return nil, rec, fmt.Errorf("store/tsdb: %s: quarantining samples stamped in the future (files moved so far are in %s): %w",
				cfg.Dir, q.dir, err)
		}
		reg.unregisterAll() // the closed TSDB's metrics; the reopened one registers its own
		if pdb, err = promtsdb.Open(cfg.Dir, logger, tsdbReg, opts, nil); err != nil {
			return nil, rec, openError(cfg.Dir, err)
		}
		logger.Warn("TSDB head recovered from samples stamped in the future", "dir", cfg.Dir, "quarantined_samples", n,
			"kept_samples", kept, "quarantine", q.dir, "head_max_time", pdb.Head().MaxTime())
		rec.quarantined += n
	}
	if clockBehind && len(q.moved) > 0 {
		// Recovery ran although the clock may be the one that is wrong (it went backwards): nothing was deleted,
		// and this says how to undo it.
		rec.clockBehind = true
		logger.Error("the clock is behind the data directory's last write, and samples stamped after it were moved "+
			"to the quarantine anyway. If the clock ran ahead earlier and is right now, nothing is to be done. If it "+
			"went backwards (no real-time clock, NTP not synced yet), the moved samples are present ones: fix the "+
			"clock, stop citywatch, move the moved entries from the quarantine directory back into the data directory "+
			"and start again (docs/operations.md)", "dir", cfg.Dir, "now", start.UTC(), "last_write", last.UTC(),
			"quarantine", q.dir, "moved", q.moved)
	}
	return pdb, rec, nil
}

// Dir returns the data directory.
func (d *DB) Dir() string { return d.cfg.Dir }

// HeadSeries returns the number of series in the in-memory head block (the recently written series); zero
// once closed.
func (d *DB) HeadSeries() uint64 {
	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closed {
		return 0
	}
	return d.db.Head().NumSeries()
}

// Querier returns a querier over samples in [mint, maxt] (Unix milliseconds). It implements
// storage.Queryable.
func (d *DB) Querier(mint, maxt int64) (storage.Querier, error) {
	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closed {
		return nil, ErrClosed
	}
	return d.db.Querier(mint, maxt)
}

// ChunkQuerier returns a chunk querier over samples in [mint, maxt] (Unix milliseconds). It implements
// storage.ChunkQueryable.
func (d *DB) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closed {
		return nil, ErrClosed
	}
	return d.db.ChunkQuerier(mint, maxt)
}

// Close waits for in-flight appends, stops compaction, flushes the head's write-ahead log, releases the
// directory lock and unregisters the metrics. It is safe to call more than once; later calls return the
// first call's result. Close queriers before closing the DB.
func (d *DB) Close() error {
	d.closeMu.Lock()
	defer d.closeMu.Unlock()
	if d.closed {
		return d.closeErr
	}
	d.closed = true
	if err := errors.Join(d.db.Close(), d.lock.release()); err != nil {
		d.closeErr = fmt.Errorf("store/tsdb: close %s: %w", d.cfg.Dir, err)
	}
	d.reg.unregisterAll()
	d.logger.Info("TSDB closed", "dir", d.cfg.Dir, "err", d.closeErr)
	return d.closeErr
}
