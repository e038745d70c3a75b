package ingest

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/store"
)

// deviceSchema is the registry's table in the metadata database. Labels and last values are small binary
// blobs (encodeLabels, encodeValues): last values may be NaN or ±Inf, which JSON cannot hold.
const deviceSchema = `
CREATE TABLE IF NOT EXISTS ingest_devices (
	id            TEXT PRIMARY KEY,
	labels        BLOB NOT NULL,
	first_seen_ns INTEGER NOT NULL,
	last_seen_ns  INTEGER NOT NULL,
	messages      INTEGER NOT NULL,
	errors        INTEGER NOT NULL,
	last_values   BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_devices_last_seen ON ingest_devices(last_seen_ns);
`

// DeviceStoreConfig configures a DeviceStore. The zero value is valid: every field has a default.
type DeviceStoreConfig struct {
	// FlushInterval is how often Run saves the devices that changed. After a crash (SIGKILL, power loss) the
	// registry restarts from the last save, so at most this much of first-seen, counts and last values is
	// lost; a graceful stop saves everything (Flush). A save costs about 20 µs of CPU per changed device
	// (SQLite upserts), so a minute keeps 166,000 busy devices near 5 % of one core. It defaults to 1m.
	FlushInterval time.Duration
	// BatchRows bounds the rows written per transaction, so that other writers of the metadata database
	// (logins, alert changes, the notification outbox) wait for at most one batch. It defaults to 2000.
	BatchRows int
}

// DeviceStoreDeps are the collaborators of a DeviceStore. DB and Pipeline are required.
type DeviceStoreDeps struct {
	// DB is the metadata database (internal/sqlitedb).
	DB *sql.DB
	// Pipeline owns the registry that is saved and restored.
	Pipeline *Pipeline
	// Logger receives save failures (when the error changes) and the restore summary. Nil discards.
	Logger *slog.Logger
	// Registerer receives the store's metrics. Nil does not register them.
	Registerer prometheus.Registerer
}

// DeviceStore persists the pipeline's device registry in the metadata database: first and last seen,
// message and error counts, labels and last values of every device. Restore loads it at start (before any
// message), Run saves the devices that changed every FlushInterval in batches, and Flush saves on stop. Rows
// beyond ingest.max_devices are pruned longest-silent first, as the registry evicts them.
type DeviceStore struct {
	cfg DeviceStoreConfig
	db  *sql.DB
	reg *registry
	log *slog.Logger

	mu sync.Mutex // one save at a time
	// pending are records of a failed save, written with the next one (newest record of a device wins).
	pending map[string]deviceRecord
	// prunedAt is the registry's eviction count when the table was last pruned to MaxDevices rows.
	prunedAt uint64
	lastErr  string

	saved      prometheus.Counter
	saveErrors prometheus.Counter
	dropped    prometheus.Counter
	lastSave   atomic.Int64 // unix nanoseconds of the last successful save, 0 = never
}

// deviceRecord is one device's saved state.
type deviceRecord struct {
	id          string
	labels      []store.Label
	first, last int64
	messages    uint64
	errors      uint64
	values      []lastValue
}

// NewDeviceStore creates the table if needed and returns a DeviceStore for deps.Pipeline's registry.
func NewDeviceStore(cfg DeviceStoreConfig, deps DeviceStoreDeps) (*DeviceStore, error) {
	if deps.DB == nil || deps.Pipeline == nil {
		return nil, errors.New("ingest: device store needs a DB and a Pipeline")
	}
	if cfg.FlushInterval < 0 || cfg.BatchRows < 0 {
		return nil, fmt.Errorf("ingest: device store: FlushInterval and BatchRows must be >= 0, got %s and %d",
			cfg.FlushInterval, cfg.BatchRows)
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Minute
	}
	if cfg.BatchRows == 0 {
		cfg.BatchRows = 2000
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := deps.DB.Exec(deviceSchema); err != nil {
		return nil, fmt.Errorf("ingest: device store: create schema: %w", err)
	}
	s := &DeviceStore{cfg: cfg, db: deps.DB, reg: deps.Pipeline.devices, log: log.With("component", "ingest"),
		pending: map[string]deviceRecord{}}
	s.saved = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_device_state_saved_total",
		Help: "Device records (first and last seen, counts, last values) saved to the metadata database.",
	})
	s.saveErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_device_state_save_errors_total",
		Help: "Failed saves of the device registry; the records are kept and written with the next save.",
	})
	s.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_device_state_dropped_total",
		Help: "Device records dropped unsaved because saves kept failing and more than twice ingest.max_devices were waiting.",
	})
	lastSave := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_ingest_device_state_last_save_timestamp_seconds",
		Help: "When the device registry was last saved to the metadata database (Unix seconds; 0 before the first save).",
	}, func() float64 { return float64(s.lastSave.Load()) / 1e9 })
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{s.saved, s.saveErrors, s.dropped, lastSave} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: device store: registering metrics: %w", err)
			}
		}
	}
	s.reg.persist.Store(&persistState{})
	return s, nil
}

// persistState is what RegistryStatus says about saving.
type persistState struct {
	lastSave time.Time
	err      string
}

// restoreDevices reads the MaxDevices most recently seen devices, the most recent first: a walk of the
// last-seen index, without sorting. Sorting them in the query (ascending, as restore wants them) made SQLite
// copy every row, blobs and all, into a temporary B-tree: about a quarter of the restore's CPU at 166,667
// devices, in the cold start before /readyz.
const restoreDevices = `SELECT id, labels, first_seen_ns, last_seen_ns, messages, errors, last_values
	FROM ingest_devices ORDER BY last_seen_ns DESC LIMIT ?`

// Restore loads the saved devices into the registry, the MaxDevices most recently seen, and returns how many.
// Call it before messages flow. Rows that cannot be decoded are skipped and logged; the others load.
func (s *DeviceStore) Restore(ctx context.Context) (int, error) {
	rows, err := s.db.QueryContext(ctx, restoreDevices, s.reg.max)
	if err != nil {
		return 0, fmt.Errorf("ingest: restore devices: %w", err)
	}
	defer rows.Close()
	var recs []deviceRecord
	var bad []string
	skipped := 0
	for rows.Next() {
		var rec deviceRecord
		var labels, values []byte
		var messages, errs int64
		if err := rows.Scan(&rec.id, &labels, &rec.first, &rec.last, &messages, &errs, &values); err != nil {
			return 0, fmt.Errorf("ingest: restore devices: %w", err)
		}
		rec.messages, rec.errors = uint64(messages), uint64(errs)
		var derr error
		if rec.labels, derr = decodeLabels(labels); derr == nil {
			rec.values, derr = decodeValues(values, s.reg.maxMetrics)
		}
		if derr != nil || rec.id == "" {
			skipped++
			if len(bad) < 3 {
				bad = append(bad, fmt.Sprintf("%.100q: %v", rec.id, derr))
			}
			continue
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("ingest: restore devices: %w", err)
	}
	rows.Close()
	slices.Reverse(recs) // restore wants the longest-silent first
	n := s.reg.restore(recs)
	s.log.Info("ingest: restored the device registry from the metadata database", "devices", n)
	if len(bad) > 0 {
		s.log.Warn("ingest: restore devices: skipped undecodable rows; those devices start afresh with their next message",
			"skipped", skipped, "examples", strings.Join(bad, "; "))
	}
	return n, nil
}

// Run saves the changed devices every FlushInterval until ctx is done, then returns nil. It does not save on
// the way out: the caller calls Flush once the sources have stopped, so that their last messages are saved.
func (s *DeviceStore) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = s.Flush(ctx) // counted, logged and reported in RegistryStatus
		}
	}
}

// Flush saves every device that changed since the last save, in transactions of at most BatchRows rows, and
// prunes the table to MaxDevices rows (longest-silent first) after evictions. Records of a failed save are
// kept and written with the next one.
func (s *DeviceStore) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.reg.takeDirty()
	if len(s.pending) > 0 {
		for _, r := range recs {
			s.pending[r.id] = r
		}
		recs = recs[:0]
		for _, r := range s.pending {
			recs = append(recs, r)
		}
		clear(s.pending)
	}
	err := s.write(ctx, recs)
	if err == nil {
		err = s.prune(ctx)
	}
	if err != nil {
		s.saveErrors.Inc()
		s.keep(recs)
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.log.Warn("ingest: saving the device registry failed; will retry", "err", err, "devices", len(recs))
		}
		s.reg.persist.Store(&persistState{lastSave: s.lastSaveTime(), err: err.Error()})
		return err
	}
	if s.lastErr != "" {
		s.lastErr = ""
		s.log.Info("ingest: saving the device registry works again")
	}
	now := time.Now()
	s.lastSave.Store(now.UnixNano())
	s.reg.persist.Store(&persistState{lastSave: now})
	return nil
}

func (s *DeviceStore) lastSaveTime() time.Time {
	if ns := s.lastSave.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// keep holds the records of a failed save for the next one, at most twice MaxDevices of them (the newest
// record per device); the rest are counted as dropped.
func (s *DeviceStore) keep(recs []deviceRecord) {
	limit := 2 * s.reg.max
	for _, r := range recs {
		if _, ok := s.pending[r.id]; !ok && len(s.pending) >= limit {
			s.dropped.Inc()
			continue
		}
		s.pending[r.id] = r
	}
}

const upsertDevice = `INSERT INTO ingest_devices (id, labels, first_seen_ns, last_seen_ns, messages, errors, last_values)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET labels = excluded.labels, first_seen_ns = excluded.first_seen_ns,
		last_seen_ns = excluded.last_seen_ns, messages = excluded.messages, errors = excluded.errors,
		last_values = excluded.last_values`

// write upserts recs in transactions of at most BatchRows rows. A failed batch fails the write; batches
// committed before it are saved (writing them again is harmless).
func (s *DeviceStore) write(ctx context.Context, recs []deviceRecord) error {
	var buf []byte
	for len(recs) > 0 {
		n := min(len(recs), s.cfg.BatchRows)
		if err := s.writeBatch(ctx, recs[:n], &buf); err != nil {
			return err
		}
		s.saved.Add(float64(n))
		recs = recs[n:]
	}
	return nil
}

func (s *DeviceStore) writeBatch(ctx context.Context, recs []deviceRecord, buf *[]byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ingest: save devices: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	stmt, err := tx.PrepareContext(ctx, upsertDevice)
	if err != nil {
		return fmt.Errorf("ingest: save devices: prepare: %w", err)
	}
	defer stmt.Close()
	for i := range recs {
		r := &recs[i]
		*buf = encodeLabels((*buf)[:0], r.labels)
		nl := len(*buf)
		*buf = encodeValues(*buf, r.values)
		if _, err := stmt.ExecContext(ctx, r.id, (*buf)[:nl], r.first, r.last, int64(min(r.messages, math.MaxInt64)),
			int64(min(r.errors, math.MaxInt64)), (*buf)[nl:]); err != nil {
			return fmt.Errorf("ingest: save device %.100q: %w", r.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ingest: save devices: commit: %w", err)
	}
	return nil
}

// prune deletes the longest-silent rows beyond MaxDevices once devices were evicted since the last prune (or
// on the first save, after a restart with a lower ingest.max_devices).
func (s *DeviceStore) prune(ctx context.Context) error {
	ev := s.reg.evictedN.Load()
	if ev == s.prunedAt && s.lastSave.Load() != 0 {
		return nil
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM ingest_devices`).Scan(&n); err != nil {
		return fmt.Errorf("ingest: prune devices: %w", err)
	}
	if excess := n - int64(s.reg.max); excess > 0 {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM ingest_devices WHERE id IN
			(SELECT id FROM ingest_devices ORDER BY last_seen_ns ASC LIMIT ?)`, excess); err != nil {
			return fmt.Errorf("ingest: prune devices: %w", err)
		}
	}
	s.prunedAt = ev
	return nil
}

// takeDirty returns the devices that changed since the last call and marks them clean. The dirty devices of
// a shard are the front of its list (update marks and moves to the front), so this walks them only.
func (r *registry) takeDirty() []deviceRecord {
	var out []deviceRecord
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil && e.dirty; e = e.next {
			e.dirty = false
			out = append(out, deviceRecord{id: e.id, labels: e.labels, first: e.first, last: e.last,
				messages: e.messages, errors: e.errors, values: slices.Clone(e.values)})
		}
		sh.mu.Unlock()
	}
	return out
}

// restore adds saved devices, sorted by last seen ascending, to the registry, up to MaxDevices, and returns
// how many it added. A device already known (a message arrived first) keeps its live state, with the saved
// counts added and the earlier first seen.
func (r *registry) restore(recs []deviceRecord) int {
	n := 0
	for i := range recs {
		rec := &recs[i]
		sh := r.shard(rec.id)
		sh.mu.Lock()
		if e := sh.m[rec.id]; e != nil {
			e.first = min(e.first, rec.first)
			e.messages += rec.messages
			e.errors += rec.errors
			e.dirty = true
			sh.unlink(e)
			sh.pushFront(e)
			sh.mu.Unlock()
			continue
		}
		sh.mu.Unlock()
		if c := r.count.Add(1); c > int64(r.max) {
			r.count.Add(-1)
			continue
		}
		e := &deviceEntry{id: rec.id, labels: rec.labels, first: rec.first, last: rec.last, messages: rec.messages,
			errors: rec.errors, values: rec.values}
		if len(e.labels) == 0 {
			e.labels = deviceLabels(nil, rec.id)
		}
		sh.mu.Lock()
		if sh.m[rec.id] != nil { // a message created it meanwhile
			sh.mu.Unlock()
			r.count.Add(-1)
			continue
		}
		for j := range e.values {
			e.values[j].name = sh.intern(e.values[j].name)
		}
		sh.m[rec.id] = e
		sh.pushFront(e)
		sh.mu.Unlock()
		n++
	}
	return n
}

// Limits of the saved blobs, so that a damaged row cannot make restore allocate without bound.
const (
	maxSavedLabels   = 64
	maxSavedLabelLen = 4096
)

// encodeLabels appends ls as uvarint count, then uvarint length and bytes of each name and value.
func encodeLabels(b []byte, ls []store.Label) []byte {
	b = binary.AppendUvarint(b, uint64(len(ls)))
	for _, l := range ls {
		b = appendString(b, l.Name)
		b = appendString(b, l.Value)
	}
	return b
}

// encodeValues appends vs as uvarint count, then the name (uvarint length and bytes) and the 8 bytes of the
// IEEE 754 value of each.
func encodeValues(b []byte, vs []lastValue) []byte {
	b = binary.AppendUvarint(b, uint64(len(vs)))
	for _, v := range vs {
		b = appendString(b, v.name)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.v))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// blobReader reads what encodeLabels and encodeValues wrote, failing on anything truncated or oversized.
type blobReader struct {
	b   []byte
	err error
}

func (r *blobReader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated length")
		return 0
	}
	if v > limit {
		r.err = fmt.Errorf("length %d over the limit %d", v, limit)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *blobReader) string() string {
	n := r.uvarint(maxSavedLabelLen)
	if r.err != nil {
		return ""
	}
	if uint64(len(r.b)) < n {
		r.err = errors.New("truncated string")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *blobReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

// decodeLabels reads encodeLabels' output.
func decodeLabels(b []byte) ([]store.Label, error) {
	r := blobReader{b: b}
	n := r.uvarint(maxSavedLabels)
	ls := make([]store.Label, 0, n)
	for range n {
		name := r.string()
		value := r.string()
		if r.err != nil {
			break
		}
		if name != "" && value != "" && name != "__name__" {
			ls = append(ls, store.Label{Name: name, Value: value})
		}
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	return store.SortLabels(ls), nil
}

// decodeValues reads encodeValues' output, keeping at most maxMetrics values.
func decodeValues(b []byte, maxMetrics int) ([]lastValue, error) {
	r := blobReader{b: b}
	n := r.uvarint(uint64(maxSavedLabelLen))
	vs := make([]lastValue, 0, min(n, uint64(maxMetrics)))
	for range n {
		name := r.string()
		if r.err == nil && len(r.b) < 8 {
			r.err = errors.New("truncated value")
		}
		if r.err != nil {
			break
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
		r.b = r.b[8:]
		if len(vs) < maxMetrics {
			vs = append(vs, lastValue{name, v})
		}
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("last values: %w", err)
	}
	return vs, nil
}
