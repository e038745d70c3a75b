package tsdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// Recovery of a data directory pushed into the future.
//
// Versions before the door checks stored whatever time a device sent. One sample stamped ahead of the clock moved
// the head's newest time into the future, and the out-of-order window, which is relative to that newest time,
// then refused every present sample as too old, also after a restart (the WAL replays the sample); a block
// compacted from such a head raised the head's minimum valid time into the future too. Open takes such samples
// out of the way, keeping everything else:
//
//   - Blocks, before the TSDB is opened (a future block would make the WAL replay drop present samples): a block
//     holding samples beyond now+MaxFutureSkew is rewritten without them and the original moved to the
//     quarantine.
//   - The head, after the WAL replay: when its newest time is beyond the limit, every head sample at or before
//     the limit is written to a new block, and the head's files (wal, wbl, chunks_head) are moved to the
//     quarantine; the TSDB is then opened again with an empty head.
//
// The quarantine is quarantine/<time>/ in the data directory; nothing is deleted, so an operator can inspect
// what was moved (docs/operations.md). Samples of blocks that overlap the rewritten head range are copied into
// the new block too; overlapping blocks are merged by queries and compaction, so they are stored once.

// quarantineDir is the directory under the data directory that holds what recovery moved away.
const quarantineDir = "quarantine"

// headFiles are the head's files in the data directory, moved to the quarantine as a whole.
var headFiles = []string{"wal", "wbl", "chunks_head"}

// quarantine is one recovery's directory under the data directory, created on first use.
type quarantine struct {
	dir     string
	created bool
}

func newQuarantine(dataDir string, now time.Time) *quarantine {
	return &quarantine{dir: filepath.Join(dataDir, quarantineDir, now.UTC().Format("20060102T150405.000Z"))}
}

// path returns the quarantine path of name, creating the quarantine directory.
func (q *quarantine) path(name string) (string, error) {
	if !q.created {
		if err := os.MkdirAll(q.dir, 0o750); err != nil {
			return "", err
		}
		q.created = true
	}
	return filepath.Join(q.dir, name), nil
}

// moveIn moves src into the quarantine.
func (q *quarantine) moveIn(src string) error {
	dst, err := q.path(filepath.Base(src))
	if err != nil {
		return err
	}
	return os.Rename(src, dst)
}

// recoverBlocks rewrites, before the TSDB is opened, every block in dataDir holding samples after limit. It
// returns how many samples it quarantined and how many blocks it rewrote.
func recoverBlocks(ctx context.Context, dataDir string, limit int64, q *quarantine, logger *slog.Logger) (future, blocks int, err error) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		dir := filepath.Join(dataDir, e.Name())
		if !e.IsDir() || len(e.Name()) != 26 || strings.Contains(e.Name(), ".") {
			continue // not a block (ULID names): wal, quarantine, or a half-written or half-deleted block
		}
		maxt, err := blockMaxTime(dir)
		if err != nil {
			continue // not a block, or one the TSDB itself will report
		}
		if maxt-1 <= limit {
			continue // cheap: only blocks whose range reaches past the limit are opened
		}
		n, err := recoverBlock(ctx, dir, limit, q, logger)
		if err != nil {
			return future, blocks, fmt.Errorf("block %s: %w", e.Name(), err)
		}
		if n > 0 {
			future += n
			blocks++
		}
	}
	return future, blocks, nil
}

// lastWrite returns the newest modification time of the data directory's WAL segments and block metadata: when
// the directory was last written, by the clock of that time. A clock now behind it by more than the skew went
// backwards (an edge box booting without a real-time clock, before NTP): then the "future" samples are the
// present ones, and recovery must not move them.
func lastWrite(dataDir string) time.Time {
	var newest time.Time
	see := func(path string) {
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	for _, sub := range headFiles {
		entries, _ := os.ReadDir(filepath.Join(dataDir, sub))
		for _, e := range entries {
			see(filepath.Join(dataDir, sub, e.Name()))
		}
	}
	entries, _ := os.ReadDir(dataDir)
	for _, e := range entries {
		if e.IsDir() {
			see(filepath.Join(dataDir, e.Name(), "meta.json"))
		}
	}
	return newest
}

// blockMaxTime reads the end of a block's time range (exclusive, Unix ms) from its meta.json.
func blockMaxTime(dir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return 0, err
	}
	var meta struct {
		MaxTime int64 `json:"maxTime"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return 0, err
	}
	return meta.MaxTime, nil
}

// recoverBlock rewrites the block in dir without its samples after limit, when it has any, and moves the
// original to the quarantine. It returns the number of samples after limit.
func recoverBlock(ctx context.Context, dir string, limit int64, q *quarantine, logger *slog.Logger) (int, error) {
	b, err := promtsdb.OpenBlock(logger, dir, nil, nil)
	if err != nil {
		return 0, err
	}
	meta := b.Meta()
	n := 0
	if meta.MaxTime-1 > limit {
		n, err = countSamples(ctx, b, limit+1, math.MaxInt64)
	}
	if err != nil || n == 0 {
		return 0, errors.Join(err, b.Close())
	}
	logger.Warn("TSDB block holds samples stamped in the future (written by an older version); rewriting it without them",
		"block", meta.ULID.String(), "future_samples", n, "limit", time.UnixMilli(limit).UTC())
	tmp, err := q.path("rewrite")
	if err != nil {
		return 0, errors.Join(err, b.Close())
	}
	bq, err := promtsdb.NewBlockQuerier(b, meta.MinTime, limit)
	if err != nil {
		return 0, errors.Join(err, b.Close())
	}
	newBlock, _, err := writeBlock(ctx, bq, meta.MinTime, limit, tmp, logger)
	if err = errors.Join(err, bq.Close(), b.Close()); err != nil {
		return 0, err
	}
	if err := q.moveIn(dir); err != nil {
		return 0, err
	}
	if newBlock != "" {
		if err := os.Rename(newBlock, filepath.Join(filepath.Dir(dir), filepath.Base(newBlock))); err != nil {
			return 0, err
		}
	}
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return n, err
	}
	return n, nil
}

// headFuture returns how many head samples of the open pdb are after limit; zero when its newest time is not.
func headFuture(ctx context.Context, pdb *promtsdb.DB, limit int64) (int, error) {
	h := pdb.Head()
	if h.NumSeries() == 0 || h.MaxTime() <= limit {
		return 0, nil
	}
	return countSamples(ctx, promtsdb.NewRangeHead(h, limit+1, math.MaxInt64), limit+1, math.MaxInt64)
}

// countSamples counts the samples of r in [mint, maxt].
func countSamples(ctx context.Context, r promtsdb.BlockReader, mint, maxt int64) (int, error) {
	q, err := promtsdb.NewBlockQuerier(r, mint, maxt)
	if err != nil {
		return 0, err
	}
	defer q.Close()
	set := q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".*"))
	n := 0
	var it chunkenc.Iterator
	for set.Next() {
		it = set.At().Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if t := it.AtT(); t >= mint && t <= maxt {
				n++
			}
		}
		if err := it.Err(); err != nil {
			return n, err
		}
	}
	return n, set.Err()
}

// writeBlock writes the float samples of q in [mint, maxt] into one new block under dir and returns its
// directory ("" when there was nothing to write) and the number of samples.
func writeBlock(ctx context.Context, q storage.Querier, mint, maxt int64, dir string, logger *slog.Logger) (string, int, error) {
	// The writer's head refuses samples older than half its chunk range behind its newest: make the range cover
	// everything.
	span := maxt - mint + 1
	blockSize := max(2*time.Hour.Milliseconds(), 2*min(span, math.MaxInt64/4))
	w, err := promtsdb.NewBlockWriter(logger, dir, blockSize)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = w.Close() }()

	set := q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".*"))
	app := w.Appender(ctx)
	n, pending := 0, 0
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		var ref storage.SeriesRef
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				continue // citywatch stores floats only
			}
			t, v := it.At()
			if t < mint || t > maxt {
				continue
			}
			if ref, err = app.Append(ref, s.Labels(), t, v); err != nil {
				_ = app.Rollback()
				return "", n, fmt.Errorf("rewrite %s @%d: %w", s.Labels(), t, err)
			}
			n++
			if pending++; pending >= 10000 {
				if err := app.Commit(); err != nil {
					return "", n, err
				}
				app, pending = w.Appender(ctx), 0
			}
		}
		if err := it.Err(); err != nil {
			_ = app.Rollback()
			return "", n, err
		}
	}
	if err := set.Err(); err != nil {
		_ = app.Rollback()
		return "", n, err
	}
	if err := app.Commit(); err != nil {
		return "", n, err
	}
	if n == 0 {
		return "", 0, nil
	}
	id, err := w.Flush(ctx)
	if err != nil {
		return "", n, err
	}
	return filepath.Join(dir, id.String()), n, nil
}

// recoverHead writes the head samples of the open pdb at or before limit into a new block, closes pdb, and
// moves the head's files to the quarantine. The caller opens the directory again. It returns the number of
// samples kept.
func recoverHead(ctx context.Context, pdb *promtsdb.DB, dataDir string, limit int64, q *quarantine, logger *slog.Logger) (int, error) {
	h := pdb.Head()
	mint := min(h.MinTime(), h.MinOOOTime())
	var newBlock string
	var kept int
	var err error
	if mint <= limit {
		var tmp string
		if tmp, err = q.path("rewrite"); err == nil {
			var dq storage.Querier
			if dq, err = pdb.Querier(mint, limit); err == nil {
				newBlock, kept, err = writeBlock(ctx, dq, mint, limit, tmp, logger)
				err = errors.Join(err, dq.Close())
			}
		}
	}
	if cerr := pdb.Close(); err != nil || cerr != nil {
		return kept, errors.Join(err, cerr)
	}
	// From here on the data directory changes; a failure leaves the moved files in the quarantine directory and
	// is reported, so the operator can put them back.
	for _, name := range headFiles {
		src := filepath.Join(dataDir, name)
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := q.moveIn(src); err != nil {
			return kept, err
		}
	}
	if newBlock != "" {
		if err := os.Rename(newBlock, filepath.Join(dataDir, filepath.Base(newBlock))); err != nil {
			return kept, err
		}
		return kept, os.Remove(filepath.Dir(newBlock))
	}
	return kept, nil
}
