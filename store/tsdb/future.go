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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
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
//   - The head, after the WAL replay: when its newest time is beyond the limit, every head sample (in-order and
//     out-of-order) from now-retention to the limit is written to a new block, and the head's files (wal, wbl,
//     chunks_head) are moved to the quarantine; the TSDB is then opened again with an empty head. Only the head
//     is read: persisted blocks are not copied, and samples older than the retention would be deleted anyway (an
//     old version took samples stamped 1970, which gave the head an ancient minimum time).
//
// Every step first puts the new block into the data directory and only then moves the original out, so a crash
// at any point leaves every present sample queryable, at worst twice (overlapping blocks are merged by queries
// and compaction); the next start finds the future samples again and finishes. The quarantine is
// quarantine/<time>/ in the data directory, which also holds the temporary files of the rewrite (never
// os.TempDir, often a small tmpfs); nothing is deleted, so an operator can inspect what was moved and put it
// back (docs/operations.md).

// recovery is what openRecovering did to the data directory.
type recovery struct {
	// quarantined is the number of samples moved to the quarantine.
	quarantined int
	// clockBehind is set when samples were moved although the clock was behind the directory's last write.
	clockBehind bool
}

// newRecoveryMetrics counts on reg what the recovery of this Open did.
func newRecoveryMetrics(reg prometheus.Registerer, r recovery) {
	clockBehind := promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "citywatch_tsdb_future_recoveries_clock_behind_total",
		Help: "Recoveries from samples stamped in the future that Open ran although the clock was behind the data directory's last write (if the clock went backwards, the moved samples are present ones: see the log to put them back).",
	})
	if r.clockBehind {
		clockBehind.Inc()
	}
}

// quarantineDir is the directory under the data directory that holds what recovery moved away.
const quarantineDir = "quarantine"

// headFiles are the head's files in the data directory, moved to the quarantine as a whole.
var headFiles = []string{"wal", "wbl", "chunks_head"}

// quarantine is one recovery's directory under the data directory, created on first use.
type quarantine struct {
	dir     string
	created bool
	// moved lists the data directory's entries moved into the quarantine, for the log.
	moved []string
	// changed, when set, is called after each change to the data directory (a block renamed in, an original
	// moved out); an error stops the recovery there. Tests use it to simulate a crash between the steps.
	changed func(step string) error
}

// step reports a change to the data directory to q.changed.
func (q *quarantine) step(s string) error {
	if q.changed == nil {
		return nil
	}
	return q.changed(s)
}

// putInPlace renames the block directory newBlock into dataDir.
func (q *quarantine) putInPlace(newBlock, dataDir string) error {
	if err := os.Rename(newBlock, filepath.Join(dataDir, filepath.Base(newBlock))); err != nil {
		return err
	}
	return q.step("rename in " + filepath.Base(newBlock))
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

// tempDir creates a new directory in the quarantine for the files of a rewrite; a crash leaves them there.
func (q *quarantine) tempDir() (string, error) {
	if _, err := q.path(""); err != nil {
		return "", err
	}
	return os.MkdirTemp(q.dir, "rewrite-")
}

// moveIn moves src into the quarantine, under a new name when the name is taken (a recovery that crashed in
// the same millisecond).
func (q *quarantine) moveIn(src string) error {
	dst, err := q.path(filepath.Base(src))
	if err != nil {
		return err
	}
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = filepath.Join(q.dir, fmt.Sprintf("%s.%d", filepath.Base(src), i))
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	q.moved = append(q.moved, filepath.Base(src))
	return q.step("move out " + filepath.Base(src))
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
// the directory was last written, by the clock of that time. A clock now behind it by more than the skew either
// went backwards (an edge box booting without a real-time clock, before NTP: the "future" samples are then the
// present ones) or ran ahead earlier and was corrected (the samples are in the future). Open cannot tell which:
// it recovers anyway, since nothing is deleted, and says loudly how to undo it.
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
	tmp, err := q.tempDir()
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
	// The new block goes in before the original goes out: a crash in between leaves both, merged by queries,
	// and the next start rewrites the original again.
	if newBlock != "" {
		if err := q.putInPlace(newBlock, filepath.Dir(dir)); err != nil {
			return 0, err
		}
	}
	if err := q.moveIn(dir); err != nil {
		return 0, err
	}
	if err := os.RemoveAll(tmp); err != nil {
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
// directory ("" when there was nothing to write) and the number of samples. It does what promtsdb.BlockWriter
// does, but keeps the chunks of its head under dir (BlockWriter uses os.TempDir, often a small tmpfs).
func writeBlock(ctx context.Context, q storage.Querier, mint, maxt int64, dir string, logger *slog.Logger) (_ string, n int, err error) {
	// The head refuses samples older than half its chunk range behind its newest: make the range cover
	// everything.
	span := maxt - mint + 1
	blockSize := max(2*time.Hour.Milliseconds(), 2*min(span, math.MaxInt64/4))
	opts := promtsdb.DefaultHeadOptions()
	opts.ChunkRange = blockSize
	opts.ChunkDirRoot = filepath.Join(dir, "head")
	h, err := promtsdb.NewHead(nil, logger, nil, nil, opts, promtsdb.NewHeadStats())
	if err != nil {
		return "", 0, err
	}
	defer func() { err = errors.Join(err, h.Close(), os.RemoveAll(opts.ChunkDirRoot)) }()
	if err := h.Init(math.MinInt64); err != nil {
		return "", 0, err
	}
	if n, err = copySamples(ctx, q, h, mint, maxt); err != nil || n == 0 {
		return "", n, err
	}
	compactor, err := promtsdb.NewLeveledCompactor(ctx, nil, logger, []int64{blockSize}, chunkenc.NewPool(), nil)
	if err != nil {
		return "", n, err
	}
	ids, err := compactor.Write(dir, h, h.MinTime(), h.MaxTime()+1, nil)
	if err != nil || len(ids) == 0 {
		return "", n, err
	}
	return filepath.Join(dir, ids[0].String()), n, nil
}

// copySamples appends the float samples of q in [mint, maxt] to h and returns how many.
func copySamples(ctx context.Context, q storage.Querier, h *promtsdb.Head, mint, maxt int64) (int, error) {
	set := q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".*"))
	app := h.Appender(ctx)
	n, pending := 0, 0
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		var ref storage.SeriesRef
		var err error
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
				return n, fmt.Errorf("rewrite %s @%d: %w", s.Labels(), t, err)
			}
			n++
			if pending++; pending >= 10000 {
				if err := app.Commit(); err != nil {
					return n, err
				}
				app, pending = h.Appender(ctx), 0
			}
		}
		if err := it.Err(); err != nil {
			_ = app.Rollback()
			return n, err
		}
	}
	if err := set.Err(); err != nil {
		_ = app.Rollback()
		return n, err
	}
	return n, app.Commit()
}

// headQuerier returns a querier over the head of pdb alone, in-order and out-of-order samples, in [mint, maxt].
// pdb.Querier would read every persisted block of the range too.
func headQuerier(ctx context.Context, h *promtsdb.Head, mint, maxt int64) (storage.Querier, error) {
	inOrder, err := promtsdb.NewBlockQuerier(promtsdb.NewRangeHead(h, mint, maxt), mint, maxt)
	if err != nil {
		return nil, err
	}
	if h.MinOOOTime() > maxt || h.MaxOOOTime() < mint {
		return inOrder, nil
	}
	ooo, err := promtsdb.NewOOOCompactionHead(ctx, h)
	if err != nil {
		return nil, errors.Join(err, inOrder.Close())
	}
	oooQ, err := promtsdb.NewBlockQuerier(ooo, mint, maxt)
	if err != nil {
		return nil, errors.Join(err, inOrder.Close())
	}
	return storage.NewMergeQuerier([]storage.Querier{inOrder, oooQ}, nil, storage.ChainedSeriesMerge), nil
}

// recoverHead writes the head samples of the open pdb in [floor, limit] into a new block, closes pdb, puts the
// block in place and then moves the head's files to the quarantine. floor is the start of the retention: older
// samples would be deleted anyway, and a head whose minimum time is ancient (a sample stamped 1970) must not
// make the new block span, and the rewrite hold, the whole retention. The caller opens the directory again. It
// returns the number of samples kept.
func recoverHead(ctx context.Context, pdb *promtsdb.DB, dataDir string, floor, limit int64, q *quarantine, logger *slog.Logger) (int, error) {
	pdb.DisableCompactions() // the head must not change under the rewrite
	h := pdb.Head()
	mint := max(min(h.MinTime(), h.MinOOOTime()), floor)
	var newBlock, tmp string
	var kept int
	var err error
	if mint <= limit {
		if tmp, err = q.tempDir(); err == nil {
			var hq storage.Querier
			if hq, err = headQuerier(ctx, h, mint, limit); err == nil {
				newBlock, kept, err = writeBlock(ctx, hq, mint, limit, tmp, logger)
				err = errors.Join(err, hq.Close())
			}
		}
	}
	if cerr := pdb.Close(); err != nil || cerr != nil {
		return kept, errors.Join(err, cerr)
	}
	// From here on the data directory changes. The new block goes in first: a crash before the head's files are
	// out leaves the present samples twice (block and WAL), merged by queries, and the next start finishes. A
	// failure leaves the moved files in the quarantine directory and is reported, so the operator can put them
	// back.
	if newBlock != "" {
		if err := q.putInPlace(newBlock, dataDir); err != nil {
			return kept, err
		}
	}
	for _, name := range headFiles {
		src := filepath.Join(dataDir, name)
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := q.moveIn(src); err != nil {
			return kept, err
		}
	}
	if tmp != "" {
		return kept, os.RemoveAll(tmp)
	}
	return kept, nil
}
