package ingest

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/internal/logx"
	"citywatch/store"
)

// deviceSchema is the registry's table in the metadata database: one row per bucket of devices, its devices
// encoded in one blob (appendDevice). A device's bucket is fixed by its id (deviceLocation): registryShards ×
// bucketsPerShard buckets, so a save rewrites the buckets that changed, each a single row, instead of one row
// per device (an SQLite upsert cost 23–40 µs of CPU per device, and at a million series every device changes
// every save), and a restore reads deviceBuckets rows at most.
const deviceSchema = `
CREATE TABLE IF NOT EXISTS ingest_device_buckets (
	bucket  INTEGER PRIMARY KEY,
	devices BLOB NOT NULL
);
`

// legacyDeviceTable is the table of one row per device that citywatch wrote before the buckets. Restore reads
// it, saves its devices in buckets and then drops it (migrate).
const legacyDeviceTable = "ingest_devices"

const (
	// bucketsPerShard is the number of buckets of a registry shard (bucketSet, deviceEntry.bucket).
	bucketsPerShard = 64
	// deviceBuckets is the number of buckets: at a million series (166,667 devices) about 40 devices and 7 KB a
	// bucket. A save costs about 140 µs of CPU per bucket row it rewrites (BenchmarkDeviceStoreSave): a save
	// after every device changed costs a thirteenth of the per-device table's, one after 1 % changed (a third
	// of the buckets) about 3.6 times as much, 0.2 s. 256 buckets a shard made both no cheaper.
	deviceBuckets = registryShards * bucketsPerShard
	// bucketFormat is the first byte of a bucket's blob; the devices follow to its end.
	bucketFormat = 1
	// maxSaveTxBytes bounds the bytes of the buckets one transaction writes, with BatchRows its rows.
	maxSaveTxBytes = 1 << 20
)

// DeviceStoreConfig configures a DeviceStore. The zero value is valid: every field has a default.
type DeviceStoreConfig struct {
	// FlushInterval is how often Run saves the devices that changed. After a crash (SIGKILL, power loss) the
	// registry restarts from the last save, so at most this much of first-seen, counts and last values is
	// lost; a graceful stop saves everything (Flush). A save rewrites the buckets of devices that changed,
	// about 140 µs of CPU per bucket, 0.5 s at 166,667 devices all changed (docs/operations.md). It defaults to 1m.
	FlushInterval time.Duration
	// BatchRows bounds the buckets (rows) written per transaction, with at most 1 MiB of them, so that other
	// writers of the metadata database (logins, alert changes, the notification outbox) wait for at most one
	// batch. It defaults to 256.
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
// message and error counts, labels and last values of every device, in buckets of devices. Restore loads it at
// start (before any message), Run saves the buckets that changed every FlushInterval, and Flush saves on stop.
// An evicted device leaves its bucket with the next save, so the table never holds more than the registry.
type DeviceStore struct {
	cfg DeviceStoreConfig
	db  *sql.DB
	reg *registry
	log *slog.Logger

	mu      sync.Mutex // one save at a time
	enc     bucketEncoder
	lastErr string
	// rowsWritten counts the buckets written or deleted: the tests bound it per save.
	rowsWritten int

	saved      prometheus.Counter
	saveErrors prometheus.Counter
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
		cfg.BatchRows = 256
	}
	log := logx.Or(deps.Logger)
	if _, err := deps.DB.Exec(deviceSchema); err != nil {
		return nil, fmt.Errorf("ingest: device store: create schema: %w", err)
	}
	s := &DeviceStore{cfg: cfg, db: deps.DB, reg: deps.Pipeline.devices, log: log.With("component", "ingest")}
	s.saved = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_device_state_saved_total",
		Help: "Device records (first and last seen, counts, last values) saved to the metadata database.",
	})
	s.saveErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_ingest_device_state_save_errors_total",
		Help: "Failed saves of the device registry; what they did not write is written with the next save.",
	})
	lastSave := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_ingest_device_state_last_save_timestamp_seconds",
		Help: "When the device registry was last saved to the metadata database (Unix seconds; 0 before the first save).",
	}, func() float64 { return float64(s.lastSave.Load()) / 1e9 })
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{s.saved, s.saveErrors, lastSave} {
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

// Restore loads the saved devices into the registry, the MaxDevices most recently seen, and returns how many.
// Call it before messages flow. A bucket that cannot be decoded keeps the devices before the damage; the
// others are skipped and logged, and start afresh with their next message. A database with the per-device
// table of earlier releases is migrated: its devices are restored and saved in buckets, and the table dropped.
func (s *DeviceStore) Restore(ctx context.Context) (int, error) {
	legacy, err := s.hasLegacyTable(ctx)
	if err != nil {
		return 0, fmt.Errorf("ingest: restore devices: %w", err)
	}
	var recs []deviceRecord
	var bad []string
	if legacy {
		recs, bad, err = s.readLegacy(ctx)
	} else {
		recs, bad, err = s.readBuckets(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("ingest: restore devices: %w", err)
	}
	// The registry wants the longest-silent first, and the MaxDevices most recently seen at most.
	slices.SortFunc(recs, func(a, b deviceRecord) int { return cmp.Compare(a.last, b.last) })
	trimmed := len(recs) > s.reg.max
	if trimmed {
		recs = recs[len(recs)-s.reg.max:]
	}
	n := s.reg.restore(recs)
	if legacy || trimmed {
		s.reg.markAllDirty() // the next save drops what was not restored
	}
	if legacy {
		if err := s.migrate(ctx); err != nil {
			return 0, fmt.Errorf("ingest: restore devices: migrating table %s to buckets: %w", legacyDeviceTable, err)
		}
		s.log.Info("ingest: migrated the device registry to buckets", "devices", n)
	}
	s.log.Info("ingest: restored the device registry from the metadata database", "devices", n)
	if len(bad) > 0 {
		s.log.Warn("ingest: restore devices: skipped undecodable records; those devices start afresh with their next message",
			"skipped", len(bad), "examples", strings.Join(bad[:min(len(bad), 3)], "; "))
	}
	return n, nil
}

// readBuckets decodes every saved bucket. bad describes the damaged ones.
func (s *DeviceStore) readBuckets(ctx context.Context) (recs []deviceRecord, bad []string, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bucket, devices FROM ingest_device_buckets`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	dec := newBlobStrings()
	for rows.Next() {
		var bucket int64
		var blob sql.RawBytes // decoded into strings of its own before Next: no copy of the blob
		if err := rows.Scan(&bucket, &blob); err != nil {
			return nil, nil, err
		}
		var derr error
		if recs, derr = decodeBucket(recs, blob, dec, s.reg.maxMetrics); derr != nil {
			bad = append(bad, fmt.Sprintf("bucket %d: %v", bucket, derr))
		}
	}
	return recs, bad, rows.Err()
}

// hasLegacyTable reports whether the per-device table of earlier releases exists.
func (s *DeviceStore) hasLegacyTable(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
		legacyDeviceTable).Scan(&n)
	return n > 0, err
}

// restoreLegacyDevices reads the per-device table of earlier releases, the most recently seen first, through
// its last-seen index: sorting in the query made SQLite copy every row, blobs and all, into a temporary B-tree.
const restoreLegacyDevices = `SELECT id, labels, first_seen_ns, last_seen_ns, messages, errors, last_values
	FROM ingest_devices ORDER BY last_seen_ns DESC LIMIT ?`

// readLegacy reads the MaxDevices most recently seen devices of the per-device table. bad describes the rows
// that could not be decoded.
func (s *DeviceStore) readLegacy(ctx context.Context) (recs []deviceRecord, bad []string, err error) {
	rows, err := s.db.QueryContext(ctx, restoreLegacyDevices, s.reg.max)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	strs := newBlobStrings()
	for rows.Next() {
		var rec deviceRecord
		var labels, values []byte
		var messages, errs int64
		if err := rows.Scan(&rec.id, &labels, &rec.first, &rec.last, &messages, &errs, &values); err != nil {
			return nil, nil, err
		}
		rec.messages, rec.errors = uint64(messages), uint64(errs)
		var derr error
		if rec.labels, derr = decodeLabels(labels, strs); derr == nil {
			rec.values, derr = decodeValues(values, strs, s.reg.maxMetrics)
		}
		if derr != nil || rec.id == "" {
			bad = append(bad, fmt.Sprintf("%.100q: %v", rec.id, derr))
			continue
		}
		recs = append(recs, rec)
	}
	return recs, bad, rows.Err()
}

// migrate saves the whole registry in buckets and then drops the per-device table, in the save's last
// transaction: until that commits, the per-device table is the saved state, a restart migrates again, and that
// save rewrites every bucket (markAllDirty), so no bucket of the interrupted migration is left over.
func (s *DeviceStore) migrate(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.save(ctx, "DROP TABLE "+legacyDeviceTable)
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

// Flush rewrites every bucket that changed since the last save (a device of it was seen, restored or
// evicted), in transactions of at most BatchRows buckets and 1 MiB. What a failed save did not commit is
// written with the next one.
func (s *DeviceStore) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.save(ctx, ""); err != nil {
		s.saveErrors.Inc()
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.log.Warn("ingest: saving the device registry failed; will retry", "err", err)
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

const (
	upsertBucket = `INSERT INTO ingest_device_buckets (bucket, devices) VALUES (?, ?)
	ON CONFLICT (bucket) DO UPDATE SET devices = excluded.devices`
	deleteBucket = `DELETE FROM ingest_device_buckets WHERE bucket = ?`
)

// save rewrites the changed buckets, shard by shard, and runs last (when not empty) in the last transaction.
// The shards' dirty masks are taken as their buckets are encoded; the masks of a transaction that does not
// commit are given back, so the next save writes those buckets again, from the registry as it is then.
func (s *DeviceStore) save(ctx context.Context, last string) (err error) {
	var tx *sql.Tx
	var upsert, del *sql.Stmt
	var taken []shardMask // the masks of the open transaction
	rows, size, devices := 0, 0, 0
	defer func() {
		if err != nil {
			if tx != nil {
				_ = tx.Rollback()
			}
			s.reg.giveBack(taken)
		}
	}()
	commit := func(final bool) error {
		if final && last != "" {
			if _, err := tx.ExecContext(ctx, last); err != nil {
				return fmt.Errorf("ingest: save devices: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("ingest: save devices: commit: %w", err)
		}
		s.saved.Add(float64(devices))
		s.rowsWritten += rows
		tx, taken, rows, size, devices = nil, taken[:0], 0, 0, 0
		return nil
	}
	for i := range s.reg.shards {
		mask, n := s.reg.encodeShard(i, &s.enc)
		if mask.empty() {
			continue
		}
		taken = append(taken, shardMask{i, mask})
		if tx == nil {
			if tx, upsert, del, err = s.begin(ctx); err != nil {
				return err
			}
		}
		mask.each(func(b int) {
			if err != nil {
				return
			}
			bucket := i*bucketsPerShard + b
			if s.enc.count[b] == 0 {
				_, err = del.ExecContext(ctx, bucket)
			} else {
				_, err = upsert.ExecContext(ctx, bucket, s.enc.bufs[b])
			}
			if err != nil {
				err = fmt.Errorf("ingest: save device bucket %d: %w", bucket, err)
			}
			rows++
			size += len(s.enc.bufs[b])
		})
		if err != nil {
			return err
		}
		devices += n
		if rows >= s.cfg.BatchRows || size >= maxSaveTxBytes {
			if err := commit(false); err != nil {
				return err
			}
		}
	}
	if tx == nil && last != "" {
		if tx, _, _, err = s.begin(ctx); err != nil {
			return err
		}
	}
	if tx != nil {
		return commit(true)
	}
	return nil
}

// begin starts a transaction of a save with its statements (closed with it).
func (s *DeviceStore) begin(ctx context.Context) (*sql.Tx, *sql.Stmt, *sql.Stmt, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ingest: save devices: begin: %w", err)
	}
	upsert, err := tx.PrepareContext(ctx, upsertBucket)
	if err == nil {
		var del *sql.Stmt
		if del, err = tx.PrepareContext(ctx, deleteBucket); err == nil {
			return tx, upsert, del, nil
		}
	}
	_ = tx.Rollback()
	return nil, nil, nil, fmt.Errorf("ingest: save devices: prepare: %w", err)
}

// shardMask is a shard's dirty buckets taken by a save.
type shardMask struct {
	shard int
	mask  bucketSet
}

// bucketSet is a set of the buckets of one shard.
type bucketSet [bucketsPerShard / 64]uint64

func (s *bucketSet) add(b uint8)      { s[b/64] |= 1 << (b % 64) }
func (s *bucketSet) has(b uint8) bool { return s[b/64]&(1<<(b%64)) != 0 }
func (s *bucketSet) empty() bool      { return *s == bucketSet{} }

func (s *bucketSet) union(o bucketSet) {
	for i := range s {
		s[i] |= o[i]
	}
}

// each calls fn for every bucket of s, in ascending order.
func (s *bucketSet) each(fn func(b int)) {
	for i, w := range s {
		for ; w != 0; w &= w - 1 {
			fn(i*64 + bits.TrailingZeros64(w))
		}
	}
}

// bucketEncoder holds one shard's buckets as a save encodes them; its buffers are reused from save to save.
type bucketEncoder struct {
	bufs  [bucketsPerShard][]byte
	count [bucketsPerShard]int
}

// encodeShard takes shard i's dirty mask and encodes each of its marked buckets into enc: every device of
// the bucket that has been seen, the most recently seen first. It returns the mask (0: nothing changed) and
// the number of devices encoded. The shard is locked while it encodes, which costs about as much per device
// as a message.
func (r *registry) encodeShard(i int, enc *bucketEncoder) (mask bucketSet, n int) {
	sh := &r.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	mask, sh.dirty = sh.dirty, bucketSet{}
	if mask.empty() {
		return mask, 0
	}
	mask.each(func(b int) {
		enc.bufs[b] = append(enc.bufs[b][:0], bucketFormat)
		enc.count[b] = 0
	})
	for e := sh.head; e != nil; e = e.next {
		if !mask.has(e.bucket) || e.messages == 0 {
			continue // another bucket, or created by admitSeries for a message whose store failed: not seen yet
		}
		enc.bufs[e.bucket] = appendDevice(enc.bufs[e.bucket], e)
		enc.count[e.bucket]++
		n++
	}
	return mask, n
}

// giveBack marks again the buckets of masks a save took but did not commit.
func (r *registry) giveBack(masks []shardMask) {
	for _, m := range masks {
		sh := &r.shards[m.shard]
		sh.mu.Lock()
		sh.dirty.union(m.mask)
		sh.mu.Unlock()
	}
}

// markAllDirty marks every bucket for the next save, which then also deletes the rows of empty buckets.
func (r *registry) markAllDirty() {
	var all bucketSet
	for i := range all {
		all[i] = ^uint64(0)
	}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		sh.dirty = all
		sh.mu.Unlock()
	}
}

// restore adds saved devices, sorted by last seen ascending, to the registry, up to MaxDevices, and returns
// how many it added. A device already known (a message arrived first) keeps its live state, with the saved
// counts added and the earlier first seen.
func (r *registry) restore(recs []deviceRecord) int {
	n := 0
	for i := range recs {
		rec := &recs[i]
		sh, bucket := r.locate(rec.id)
		sh.mu.Lock()
		if e := sh.m[rec.id]; e != nil {
			e.first = min(e.first, rec.first)
			e.messages += rec.messages
			e.errors += rec.errors
			sh.dirty.add(e.bucket)
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
			errors: rec.errors, values: rec.values, bucket: bucket}
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

// appendDevice appends e to a bucket's blob: its id, labels (encodeLabels), first and last seen (varints of
// Unix nanoseconds), message and error counts (uvarints) and last values (encodeValues).
func appendDevice(b []byte, e *deviceEntry) []byte {
	b = appendString(b, e.id)
	b = encodeLabels(b, e.labels)
	b = binary.AppendVarint(b, e.first)
	b = binary.AppendVarint(b, e.last)
	b = binary.AppendUvarint(b, e.messages)
	b = binary.AppendUvarint(b, e.errors)
	return encodeValues(b, e.values)
}

// decodeBucket appends to recs the devices of a bucket's blob (appendDevice after the bucketFormat byte). On
// damage it returns the devices before it, and an error naming the device it could not read when its id was
// readable. Strings come from strs, which shares the names and values that repeat across devices.
func decodeBucket(recs []deviceRecord, blob []byte, strs *blobStrings, maxMetrics int) ([]deviceRecord, error) {
	if len(blob) == 0 || blob[0] != bucketFormat {
		return recs, fmt.Errorf("unknown format %.1x", blob)
	}
	r := blobReader{b: blob[1:]}
	for len(r.b) > 0 {
		var rec deviceRecord
		rec.id = string(r.bytes())
		rec.labels = r.labels(rec.id, strs)
		rec.first = r.varint()
		rec.last = r.varint()
		rec.messages = r.uvarint(math.MaxUint64)
		rec.errors = r.uvarint(math.MaxUint64)
		rec.values = r.values(strs, maxMetrics)
		if r.err == nil && rec.id == "" {
			r.err = errors.New("empty id")
		}
		if r.err != nil {
			if rec.id != "" {
				return recs, fmt.Errorf("device %.100q: %w", rec.id, r.err)
			}
			return recs, r.err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// maxBlobStrings bounds the strings a restore shares.
const maxBlobStrings = 1 << 16

// blobStrings shares the strings a restore decodes: label names, metric names and the label values that many
// devices have (a site, a district), each allocated once instead of once per device.
type blobStrings struct {
	m map[string]string
}

func newBlobStrings() *blobStrings { return &blobStrings{m: make(map[string]string)} }

// get returns b as a string, shared with earlier calls while there is room.
func (d *blobStrings) get(b []byte) string {
	if s, ok := d.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.m) < maxBlobStrings {
		d.m[s] = s
	}
	return s
}

// labels reads encodeLabels' output for the device id: a value that is the id's beginning or end (the
// district, the device) shares the id's bytes.
func (r *blobReader) labels(id string, strs *blobStrings) []store.Label {
	n := r.uvarint(maxSavedLabels)
	if r.err != nil {
		return nil
	}
	ls := make([]store.Label, 0, n)
	for range n {
		name := r.bytes()
		value := r.bytes()
		if r.err != nil {
			return nil
		}
		if len(name) == 0 || len(value) == 0 || string(name) == "__name__" {
			continue
		}
		l := store.Label{Name: strs.get(name)}
		switch {
		case len(value) <= len(id) && id[len(id)-len(value):] == string(value):
			l.Value = id[len(id)-len(value):]
		case len(value) <= len(id) && id[:len(value)] == string(value):
			l.Value = id[:len(value)]
		default:
			l.Value = strs.get(value)
		}
		ls = append(ls, l)
	}
	return store.SortLabels(ls)
}

// values reads encodeValues' output, keeping at most maxMetrics values.
func (r *blobReader) values(strs *blobStrings, maxMetrics int) []lastValue {
	n := r.uvarint(uint64(maxSavedLabelLen))
	if r.err != nil {
		return nil
	}
	vs := make([]lastValue, 0, min(n, uint64(maxMetrics)))
	for range n {
		name := r.bytes()
		if r.err == nil && len(r.b) < 8 {
			r.err = errors.New("truncated value")
		}
		if r.err != nil {
			return nil
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
		r.b = r.b[8:]
		if len(vs) < maxMetrics {
			vs = append(vs, lastValue{strs.get(name), v})
		}
	}
	return vs
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

// bytes reads what appendString wrote; the result shares the blob's bytes.
func (r *blobReader) bytes() []byte {
	n := r.uvarint(maxSavedLabelLen)
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errors.New("truncated string")
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *blobReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *blobReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

// decodeLabels reads encodeLabels' output alone (a row of the per-device table), as a bucket's labels are read.
func decodeLabels(b []byte, strs *blobStrings) ([]store.Label, error) {
	r := blobReader{b: b}
	ls := r.labels("", strs)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	return ls, nil
}

// decodeValues reads encodeValues' output alone (a row of the per-device table), keeping at most maxMetrics
// values, as a bucket's values are read.
func decodeValues(b []byte, strs *blobStrings, maxMetrics int) ([]lastValue, error) {
	r := blobReader{b: b}
	vs := r.values(strs, maxMetrics)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("last values: %w", err)
	}
	return vs, nil
}
