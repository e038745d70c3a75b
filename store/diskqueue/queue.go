// Package diskqueue is a durable, bounded FIFO of records on local disk, for store-and-forward. It is the one
// queue design behind every forwarder (store/influx, store/remotewrite).
//
// Records are appended to segment files named after the queue offset of their first byte. Each record is
// framed as
//
//	uint32 payload length | uint32 CRC32C(payload) | payload
//	payload = uint64 append time (Unix ns) | uint32 item count | data
//
// (little endian). Append issues one write() per record, so an appended record survives the process being
// killed; the active segment and the acknowledged read position are fsync'd by a group commit every
// SyncInterval, on segment rotation and on Close, so a power loss loses at most about one interval. On Open
// every segment is scanned: a torn or corrupt tail is truncated (counted and logged), never a panic.
//
// A single consumer reads batches in order and acknowledges them; the acknowledged offset is persisted, so
// a restart resumes exactly after the last acknowledged batch (delivery is at-least-once). Segments that are
// fully acknowledged are deleted. When the queue holds MaxBytes, Append either drops the oldest unread
// segment(s), counting every dropped item, or blocks until there is space.
package diskqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// Policy says what Append does when the queue is full.
type Policy string

const (
	// DropOldest deletes the oldest unread segment(s) to make room and counts every dropped item.
	DropOldest Policy = "drop_oldest"
	// Block makes Append wait until the consumer frees space or its context is done.
	Block Policy = "block"
)

// Config configures a Queue.
type Config struct {
	// Dir holds the segment files, the acknowledged offset and a lock file. Required.
	Dir string
	// MaxBytes bounds the bytes of all segment files together. It defaults to 1 GiB and must be at least
	// twice SegmentBytes.
	MaxBytes int64
	// SegmentBytes is the size at which the active segment is rotated; it also bounds one record. It defaults
	// to MaxBytes/16, at most 64 MiB.
	SegmentBytes int64
	// Policy applies when MaxBytes is reached. It defaults to DropOldest.
	Policy Policy
	// SyncInterval is the group-commit interval: appended records and the acknowledged offset are fsync'd at
	// least this often. It defaults to 1s.
	SyncInterval time.Duration
}

// Deps are the Queue's dependencies.
type Deps struct {
	// Logger receives recovery and fsync problems. Nil discards.
	Logger *slog.Logger
	// Clock tells the time stamped into records and runs the read linger and the group commit; nil is the
	// real clock.
	Clock clock.Clock
}

// ErrClosed is returned by operations on a closed Queue.
var ErrClosed = errors.New("diskqueue: closed")

// ErrTooLarge is returned by Append for a record that cannot fit in a segment.
var ErrTooLarge = errors.New("diskqueue: record larger than segment size")

const (
	frameHeader   = 8  // length + crc
	payloadHeader = 12 // time + count
	segSuffix     = ".seg"
	ackFileName   = "ack"
	lockFileName  = "lock"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stats is a snapshot of the queue's state and counters.
type Stats struct {
	// Items is the number of items appended and neither acknowledged nor dropped (including read batches not
	// yet acknowledged).
	Items int64
	// Bytes is the size of the unacknowledged records.
	Bytes int64
	// DiskBytes is the size of all segment files, the figure MaxBytes bounds.
	DiskBytes int64
	// Segments is the number of segment files.
	Segments int
	// Oldest is the append time of the oldest unacknowledged record; zero when the queue is empty.
	Oldest time.Time
	// DroppedItems counts items deleted unread by the DropOldest policy.
	DroppedItems int64
	// CorruptItems counts items lost to records found corrupt while reading.
	CorruptItems int64
	// CorruptBytes counts bytes truncated or skipped as torn or corrupt.
	CorruptBytes int64
	// Repairs counts segments truncated at a torn or corrupt record.
	Repairs int64
}

// Batch is a run of records returned by Read, to be passed to Ack once delivered.
type Batch struct {
	// Records holds each record's data, in order.
	Records [][]byte
	// Counts holds each record's item count.
	Counts []int
	// Items is the sum of Counts.
	Items int
	// Bytes is the sum of the records' data lengths.
	Bytes int
	// First is the append time of the first record.
	First time.Time
	// Backlog reports whether more unread records followed the batch when it was read.
	Backlog bool

	end int64
}

type segment struct {
	base  int64
	size  int64
	items int64
	path  string
}

func (s *segment) end() int64 { return s.base + s.size }

// Queue is a durable on-disk FIFO. Append may be called concurrently; Read and Ack belong to one consumer.
type Queue struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock

	lock *os.File

	mu       sync.Mutex
	closed   bool
	changed  chan struct{} // closed and replaced on every state change
	segs     []*segment    // oldest first; the last one is the active segment
	w        *os.File      // active segment, nil until the first append after Open
	wbuf     []byte
	dirty    bool
	nextBase int64

	rseg   *segment // reader's segment
	rf     *os.File
	rpos   int64 // within rseg
	rItems int64 // items read from rseg
	rhdr   [frameHeader + payloadHeader]byte

	ack      int64
	ackF     *os.File
	ackDirty bool
	ackStale bool // the last ack write failed

	items    int64
	inflight int64
	stats    Stats

	dropLogTime time.Time

	oldestAt   int64 // ack offset for which oldest was computed; -1 when unknown
	oldestTime time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

// Open opens or creates the queue in cfg.Dir, recovers it (truncating torn tails) and starts the group
// commit. Close releases it.
func Open(cfg Config, deps Deps) (*Queue, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	q := &Queue{
		cfg:      cfg,
		log:      logx.Or(deps.Logger),
		clk:      clock.Or(deps.Clock),
		changed:  make(chan struct{}),
		oldestAt: -1,
		stop:     make(chan struct{}),
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("diskqueue: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(cfg.Dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("diskqueue: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("diskqueue: %s is in use by another process: %w", cfg.Dir, err)
	}
	q.lock = lock
	if err := q.recover(); err != nil {
		q.closeFiles()
		return nil, err
	}
	q.wg.Add(1)
	go q.syncLoop()
	return q, nil
}

func (c *Config) defaults() error {
	if c.Dir == "" {
		return errors.New("diskqueue: dir is required")
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 1 << 30
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = min(c.MaxBytes/16, 64<<20)
	}
	if c.Policy == "" {
		c.Policy = DropOldest
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = time.Second
	}
	switch {
	case c.SegmentBytes < 4096:
		return fmt.Errorf("diskqueue: segment_bytes must be >= 4096, got %d", c.SegmentBytes)
	case c.MaxBytes < 2*c.SegmentBytes:
		return fmt.Errorf("diskqueue: max_bytes must be >= 2 * segment_bytes (%d), got %d", 2*c.SegmentBytes, c.MaxBytes)
	case c.Policy != DropOldest && c.Policy != Block:
		return fmt.Errorf("diskqueue: policy must be %q or %q, got %q", DropOldest, Block, c.Policy)
	case c.SyncInterval < 0:
		return fmt.Errorf("diskqueue: sync_interval must be > 0, got %s", c.SyncInterval)
	}
	return nil
}

// MaxRecordBytes is the largest data length Append accepts.
func (q *Queue) MaxRecordBytes() int {
	return int(q.cfg.SegmentBytes) - frameHeader - payloadHeader
}

// Append writes one record of data holding count items (count >= 1) and returns once it is in the segment
// file (written, not yet fsync'd). When the queue is full it drops the oldest segments or blocks, as
// configured.
func (q *Queue) Append(ctx context.Context, count int, data []byte) error {
	if count < 1 {
		return fmt.Errorf("diskqueue: count must be >= 1, got %d", count)
	}
	if len(data) > q.MaxRecordBytes() {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	need := int64(frameHeader + payloadHeader + len(data))
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return ErrClosed
		}
		if err := q.rotateIfNeeded(need); err != nil {
			return err
		}
		if q.diskBytes()+need <= q.cfg.MaxBytes {
			break
		}
		if q.cfg.Policy == DropOldest {
			if err := q.dropOldest(); err != nil {
				return err
			}
			continue
		}
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
			q.mu.Lock()
		case <-ctx.Done():
			q.mu.Lock()
			return fmt.Errorf("diskqueue: full (%d bytes): %w", q.cfg.MaxBytes, ctx.Err())
		}
	}
	if err := q.ensureActive(); err != nil {
		return err
	}
	active := q.segs[len(q.segs)-1]
	b := q.wbuf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(payloadHeader+len(data)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(q.clk.Now().UnixNano()))
	b = binary.LittleEndian.AppendUint32(b, uint32(count))
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[frameHeader:], castagnoli))
	q.wbuf = b
	// WriteAt at the committed size: a failed or short write leaves garbage past size that the next append
	// overwrites, or that recovery truncates.
	if _, err := q.w.WriteAt(b, active.size); err != nil {
		return fmt.Errorf("diskqueue: append: %w", err)
	}
	active.size += need
	active.items += int64(count)
	q.items += int64(count)
	q.nextBase = active.end()
	q.dirty = true
	q.broadcast()
	return nil
}

func (q *Queue) broadcast() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *Queue) diskBytes() int64 {
	var n int64
	for _, s := range q.segs {
		n += s.size
	}
	return n
}

func segPath(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x%s", base, segSuffix))
}

// ensureActive creates the active segment file if there is none open.
func (q *Queue) ensureActive() error {
	if q.w != nil {
		return nil
	}
	if n := len(q.segs); n > 0 {
		f, err := os.OpenFile(q.segs[n-1].path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("diskqueue: open segment: %w", err)
		}
		q.w = f
		return nil
	}
	return q.newSegment()
}

func (q *Queue) newSegment() error {
	s := &segment{base: q.nextBase, path: segPath(q.cfg.Dir, q.nextBase)}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("diskqueue: create segment: %w", err)
	}
	if err := syncDir(q.cfg.Dir); err != nil {
		f.Close()
		return err
	}
	q.w = f
	q.segs = append(q.segs, s)
	if q.rseg == nil {
		q.rseg, q.rpos, q.rItems = s, 0, 0
	}
	return nil
}

// rotateIfNeeded starts a new segment when the record would not fit in the active one. The old segment is
// fsync'd first so that a rotation is a durability point.
func (q *Queue) rotateIfNeeded(need int64) error {
	n := len(q.segs)
	if n == 0 || q.segs[n-1].size == 0 || q.segs[n-1].size+need <= q.cfg.SegmentBytes {
		return nil
	}
	if q.w != nil {
		if err := q.w.Sync(); err != nil {
			q.log.Error("fsync segment failed", "err", err)
		}
		q.w.Close()
		q.w = nil
	}
	q.dirty = false
	q.nextBase = q.segs[n-1].end()
	if err := q.newSegment(); err != nil {
		return err
	}
	q.collect()
	return nil
}

// dropOldest deletes the oldest segment that is not the active one, counting its unread items as dropped.
// Items already read (in a batch not yet acknowledged) are not counted: the consumer still holds them.
func (q *Queue) dropOldest() error {
	if len(q.segs) < 2 {
		return fmt.Errorf("diskqueue: full with a single segment (max_bytes %d)", q.cfg.MaxBytes)
	}
	s := q.segs[0]
	var unread int64
	switch {
	case s == q.rseg:
		unread = s.items - q.rItems
		q.moveReader(q.segs[1])
	case q.readerIndex() < 0:
		unread = s.items
	}
	q.segs = q.segs[1:]
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.log.Error("remove dropped segment failed", "err", err)
	}
	if unread > 0 {
		q.stats.DroppedItems += unread
		q.items -= unread
		if now := q.clk.Now(); now.Sub(q.dropLogTime) >= 10*time.Second {
			q.dropLogTime = now
			q.log.Warn("queue full: dropping oldest items", "dropped_total", q.stats.DroppedItems, "max_bytes", q.cfg.MaxBytes)
		}
	}
	q.oldestAt = -1
	q.broadcast()
	return nil
}

func (q *Queue) readerIndex() int {
	for i, s := range q.segs {
		if s == q.rseg {
			return i
		}
	}
	return -1
}

func (q *Queue) moveReader(s *segment) {
	if q.rf != nil {
		q.rf.Close()
		q.rf = nil
	}
	q.rseg, q.rpos, q.rItems = s, 0, 0
}

// collect deletes fully acknowledged segments other than the active one and the reader's.
func (q *Queue) collect() {
	for len(q.segs) > 1 {
		s := q.segs[0]
		if s.end() > q.ack || s == q.rseg {
			return
		}
		q.segs = q.segs[1:]
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			q.log.Error("remove acknowledged segment failed", "err", err)
		}
	}
}

// Read returns the next batch of at most maxItems items and maxBytes data bytes (at least one record),
// waiting until a record is available. While fewer than maxItems items are unread it waits up to linger after
// the first unread record was appended, so that batches fill up. Batches must be acknowledged in the order
// they were read.
func (q *Queue) Read(ctx context.Context, maxItems, maxBytes int, linger time.Duration) (*Batch, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return nil, ErrClosed
		}
		first, ok, err := q.peekUnread()
		if err != nil {
			return nil, err
		}
		var timer clock.Timer
		var wait <-chan time.Time
		if ok {
			due, now := first.Add(linger), q.clk.Now()
			unread := q.items - q.inflight
			// due-now > linger: the clock went back since the append; do not wait for it to catch up.
			if unread >= int64(maxItems) || !now.Before(due) || due.Sub(now) > linger {
				b, err := q.readBatch(maxItems, maxBytes)
				if err != nil || b.Items > 0 {
					return b, err
				}
				continue
			}
			timer = q.clk.NewTimer(due.Sub(now))
			wait = timer.C()
		}
		ch := q.changed
		q.mu.Unlock()
		var ctxErr error
		select {
		case <-ch:
		case <-wait:
		case <-ctx.Done():
			ctxErr = ctx.Err()
		}
		if timer != nil {
			timer.Stop()
		}
		q.mu.Lock()
		if ctxErr != nil {
			return nil, ctxErr
		}
	}
}

// advance moves the reader past the end of its segment when a newer segment exists. It reports whether the
// reader is at an unread record.
func (q *Queue) advance() bool {
	for q.rseg != nil {
		if q.rpos < q.rseg.size {
			return true
		}
		i := q.readerIndex()
		if i < 0 || i == len(q.segs)-1 {
			return false
		}
		q.moveReader(q.segs[i+1])
	}
	return false
}

func (q *Queue) openReader() error {
	if q.rf != nil {
		return nil
	}
	f, err := os.Open(q.rseg.path)
	if err != nil {
		return fmt.Errorf("diskqueue: open segment for reading: %w", err)
	}
	q.rf = f
	return nil
}

// peekUnread returns the append time of the next unread record, skipping corrupt data.
func (q *Queue) peekUnread() (time.Time, bool, error) {
	for q.advance() {
		if err := q.openReader(); err != nil {
			return time.Time{}, false, err
		}
		if _, err := q.readHeader(); err != nil {
			q.skipCorrupt(err)
			continue
		}
		return time.Unix(0, int64(binary.LittleEndian.Uint64(q.rhdr[frameHeader:]))), true, nil
	}
	return time.Time{}, false, nil
}

// readHeader reads and checks the frame and payload header at the reader position and returns the payload
// length.
func (q *Queue) readHeader() (int64, error) {
	avail := q.rseg.size - q.rpos
	if avail < frameHeader+payloadHeader {
		return 0, fmt.Errorf("short record header at %d", q.rpos)
	}
	if _, err := q.rf.ReadAt(q.rhdr[:], q.rpos); err != nil {
		return 0, err
	}
	n := int64(binary.LittleEndian.Uint32(q.rhdr[0:]))
	if n < payloadHeader || frameHeader+n > avail {
		return 0, fmt.Errorf("bad record length %d at %d", n, q.rpos)
	}
	if binary.LittleEndian.Uint32(q.rhdr[frameHeader+8:]) == 0 {
		return 0, fmt.Errorf("zero item count at %d", q.rpos)
	}
	return n, nil
}

// skipCorrupt skips the rest of the reader's segment after a record turned out corrupt while reading (the
// file changed after recovery checked it). The skipped items are counted as lost.
func (q *Queue) skipCorrupt(cause error) {
	lost := q.rseg.items - q.rItems
	q.stats.CorruptBytes += q.rseg.size - q.rpos
	q.stats.CorruptItems += lost
	q.items -= lost
	q.log.Error("corrupt record in queue: skipping rest of segment", "segment", filepath.Base(q.rseg.path),
		"offset", q.rpos, "items_lost", lost, "err", cause)
	q.rpos, q.rItems = q.rseg.size, q.rseg.items
}

func (q *Queue) readBatch(maxItems, maxBytes int) (*Batch, error) {
	b := &Batch{}
	for q.advance() {
		if err := q.openReader(); err != nil {
			return nil, err
		}
		n, err := q.readHeader()
		if err != nil {
			q.skipCorrupt(err)
			continue
		}
		count := int(binary.LittleEndian.Uint32(q.rhdr[frameHeader+8:]))
		if b.Items > 0 && (b.Items+count > maxItems || b.Bytes+int(n-payloadHeader) > maxBytes) {
			b.Backlog = true
			break
		}
		payload := make([]byte, n)
		if _, err := q.rf.ReadAt(payload, q.rpos+frameHeader); err != nil {
			q.skipCorrupt(err)
			continue
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(q.rhdr[4:]) {
			q.skipCorrupt(errors.New("checksum mismatch"))
			continue
		}
		if b.Items == 0 {
			b.First = time.Unix(0, int64(binary.LittleEndian.Uint64(payload)))
		}
		b.Records = append(b.Records, payload[payloadHeader:])
		b.Counts = append(b.Counts, count)
		b.Items += count
		b.Bytes += int(n - payloadHeader)
		q.rpos += frameHeader + n
		q.rItems += int64(count)
		b.end = q.rseg.base + q.rpos
	}
	if b.Items == 0 {
		// Everything that looked readable was corrupt; the caller reads again.
		return b, nil
	}
	if !b.Backlog {
		b.Backlog = q.advance()
	}
	q.inflight += int64(b.Items)
	return b, nil
}

// Ack acknowledges a batch returned by Read: its records will not be read again, even after a restart. It
// fails only on a closed queue.
func (q *Queue) Ack(b *Batch) error {
	if b == nil || b.Items == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.inflight -= int64(b.Items)
	q.items -= int64(b.Items)
	if b.end > q.ack {
		q.ack = b.end
		if err := q.writeAck(); err != nil {
			// The in-memory position moved on; the group commit retries the write. Until then a restart
			// would only deliver these records again.
			q.ackStale = true
			q.log.Error("persisting acknowledged offset failed", "err", err)
		}
	}
	q.collect()
	q.oldestAt = -1
	q.broadcast()
	return nil
}

func (q *Queue) writeAck() error {
	var buf [12]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(q.ack))
	binary.LittleEndian.PutUint32(buf[8:], crc32.Checksum(buf[:8], castagnoli))
	if _, err := q.ackF.WriteAt(buf[:], 0); err != nil {
		return fmt.Errorf("diskqueue: write ack: %w", err)
	}
	q.ackDirty = true
	return nil
}

// Stats returns a snapshot of the queue's state and counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	st.Items = q.items
	st.DiskBytes = q.diskBytes()
	st.Segments = len(q.segs)
	for _, s := range q.segs {
		switch {
		case s.end() <= q.ack:
		case s.base < q.ack:
			st.Bytes += s.end() - q.ack
		default:
			st.Bytes += s.size
		}
	}
	if q.items > 0 {
		st.Oldest = q.oldest()
	}
	return st
}

// oldest returns the append time of the first record at or after the acknowledged offset, cached per offset.
func (q *Queue) oldest() time.Time {
	if q.oldestAt == q.ack {
		return q.oldestTime
	}
	q.oldestTime = time.Time{}
	for _, s := range q.segs {
		if s.end() <= q.ack || s.size == 0 {
			continue
		}
		pos := max(q.ack-s.base, 0)
		if t, ok := readTime(s.path, pos); ok {
			q.oldestTime = t
		}
		break
	}
	q.oldestAt = q.ack
	return q.oldestTime
}

func readTime(path string, pos int64) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	var h [frameHeader + payloadHeader]byte
	if _, err := f.ReadAt(h[:], pos); err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.LittleEndian.Uint64(h[frameHeader:]))), true
}

// Sync fsyncs appended records and the acknowledged offset now.
func (q *Queue) Sync() error {
	q.mu.Lock()
	if q.ackStale && q.ackF != nil {
		if err := q.writeAck(); err == nil {
			q.ackStale = false
		}
	}
	w, ack := q.w, q.ackF
	dirty, ackDirty := q.dirty, q.ackDirty
	q.dirty, q.ackDirty = false, false
	q.mu.Unlock()
	var errs []error
	if dirty && w != nil {
		// A rotation may close w meanwhile; it fsyncs before closing, so ErrClosed is harmless.
		if err := w.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, fmt.Errorf("diskqueue: fsync segment: %w", err))
		}
	}
	if ackDirty && ack != nil {
		if err := ack.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, fmt.Errorf("diskqueue: fsync ack: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (q *Queue) syncLoop() {
	defer q.wg.Done()
	t := q.clk.NewTicker(q.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C():
			if err := q.Sync(); err != nil {
				q.log.Error("group commit failed", "err", err)
			}
		}
	}
}

// Close fsyncs and closes the queue and waits for its goroutine. It is safe to call more than once.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.stop)
	q.broadcast()
	q.mu.Unlock()
	q.wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	if q.w != nil {
		if err := q.w.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("diskqueue: fsync segment: %w", err))
		}
	}
	if q.ackF != nil {
		if q.ackStale {
			if err := q.writeAck(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := q.ackF.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("diskqueue: fsync ack: %w", err))
		}
	}
	q.closeFiles()
	return errors.Join(errs...)
}

func (q *Queue) closeFiles() {
	for _, f := range []*os.File{q.w, q.rf, q.ackF} {
		if f != nil {
			f.Close()
		}
	}
	q.w, q.rf, q.ackF = nil, nil, nil
	if q.lock != nil {
		_ = syscall.Flock(int(q.lock.Fd()), syscall.LOCK_UN)
		q.lock.Close()
		q.lock = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("diskqueue: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("diskqueue: fsync dir: %w", err)
	}
	return nil
}

// listSegments returns the segment files in dir, oldest first.
func listSegments(dir string) ([]*segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("diskqueue: %w", err)
	}
	var segs []*segment
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, segSuffix), 16, 64)
		if err != nil || base < 0 {
			continue
		}
		segs = append(segs, &segment{base: base, path: filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].base < segs[j].base })
	return segs, nil
}

var _ io.Closer = (*Queue)(nil)
