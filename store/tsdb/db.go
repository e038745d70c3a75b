// Package tsdb is the embedded time-series store: a Prometheus TSDB (write-ahead log, head block, compaction,
// retention, out-of-order window) in a data directory, behind the store.Appender contract and the
// storage.Queryable interface that PromQL reads.
package tsdb

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"

	"citywatch/store"
)

// Defaults applied by Open to zero Config fields.
const (
	// DefaultRetention is how long samples are kept when Config.Retention is zero.
	DefaultRetention = 15 * 24 * time.Hour
	// DefaultOutOfOrderWindow is how far behind the newest sample a late sample may be when
	// Config.OutOfOrderWindow is zero.
	DefaultOutOfOrderWindow = time.Hour

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
}

// Deps are the DB's collaborators. Every field may be nil.
type Deps struct {
	// Logger receives TSDB events (WAL replay, compaction); nil discards them.
	Logger *slog.Logger
	// Registerer receives the citywatch_tsdb_* and citywatch_store_* metrics and the TSDB's own metrics under
	// a "citywatch_" prefix; nil registers nothing.
	Registerer prometheus.Registerer
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
	// waits for in-flight appends and nothing touches the TSDB after it.
	closeMu  sync.RWMutex
	closed   bool
	closeErr error
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
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	logger = logger.With("component", "tsdb")

	if err := prepareDir(cfg.Dir); err != nil {
		return nil, err
	}

	// The lock is taken here rather than by the TSDB so that a directory in use fails before anything is
	// registered or read.
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}

	reg := newTrackingRegisterer(deps.Registerer)
	opts := promtsdb.DefaultOptions()
	opts.NoLockfile = true
	opts.RetentionDuration = cfg.Retention.Milliseconds()
	if cfg.OutOfOrderWindow > 0 {
		opts.OutOfOrderTimeWindow = cfg.OutOfOrderWindow.Milliseconds()
	}
	opts.WALCompression = compression.Snappy
	// As Prometheus does: compact up to a tenth of the retention (at most 31d), so that retention deletes
	// data in small steps and the block count stays low.
	opts.MaxBlockDuration = min(max(opts.RetentionDuration/10, opts.MinBlockDuration), maxBlockDuration.Milliseconds())

	var tsdbReg prometheus.Registerer
	if deps.Registerer != nil {
		tsdbReg = prometheus.WrapRegistererWithPrefix("citywatch_", reg)
	}
	pdb, err := promtsdb.Open(cfg.Dir, logger, tsdbReg, opts, nil)
	if err != nil {
		reg.unregisterAll()
		return nil, errors.Join(openError(cfg.Dir, err), lock.release())
	}

	d := &DB{
		cfg:    cfg,
		db:     pdb,
		logger: logger,
		reg:    reg,
		lock:   lock,
		now:    time.Now,
	}
	for i := range d.shards {
		d.shards[i].init(d.now())
	}
	d.metrics = newMetrics(reg, pdb.Head().NumSeries)
	logger.Info("TSDB opened", "dir", cfg.Dir, "retention", cfg.Retention, "out_of_order_window",
		cfg.OutOfOrderWindow, "head_series", pdb.Head().NumSeries())
	return d, nil
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
	return c, nil
}

// Dir returns the data directory.
func (d *DB) Dir() string { return d.cfg.Dir }

// HeadSeries returns the number of series in the in-memory head block (the recently written series).
func (d *DB) HeadSeries() uint64 { return d.db.Head().NumSeries() }

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
