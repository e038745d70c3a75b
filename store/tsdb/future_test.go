package tsdb

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
	"citywatch/internal/testenv"
	"citywatch/store"
)

// futureNow is the time of these tests' fake clocks.
var futureNow = time.UnixMilli(base)

func TestAppendRefusesFutureSamples(t *testing.T) {
	db := openT(t, Config{}, Deps{Clock: clock.NewFake(futureNow)})
	now := futureNow.UnixMilli()
	err := db.Append(context.Background(), []store.Sample{
		{Name: "temperature", Labels: lbls("device", "a"), T: now, V: 1},
		{Name: "temperature", Labels: lbls("device", "evil"), T: now + (2 * time.Hour).Milliseconds(), V: 2},
		{Name: "temperature", Labels: lbls("device", "evil2"), T: 253402300799000, V: 3},
		{Name: "temperature", Labels: lbls("device", "skewed"), T: now + (9 * time.Minute).Milliseconds(), V: 4},
	})
	var rej *store.RejectedError
	require.ErrorAs(t, err, &rej)
	assert.Equal(t, 2, rej.Count)
	assert.Equal(t, ReasonFuture, rej.Reason)
	assert.Contains(t, rej.Error(), "ahead of the clock")
	got := readAll(t, db)
	assert.Len(t, got, 2, "the present and the skewed-within-limit samples are stored")

	// The database's newest time did not move: a present sample of another series is still accepted, and so is
	// one 50 minutes old (inside the out-of-order window of the present, not of the future).
	require.NoError(t, db.Append(context.Background(), []store.Sample{
		{Name: "temperature", Labels: lbls("device", "b"), T: now - (50 * time.Minute).Milliseconds(), V: 5},
	}))
}

func TestHeadSeriesLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	db := openT(t, Config{MaxHeadSeries: 3}, Deps{Registerer: reg})
	ctx := context.Background()
	batch := func(t0 int64, devices ...string) []store.Sample {
		var out []store.Sample
		for _, d := range devices {
			out = append(out, store.Sample{Name: "x", Labels: lbls("device", d), T: t0, V: 1})
		}
		return out
	}
	require.NoError(t, db.Append(ctx, batch(base, "a", "b", "c")))
	err := db.Append(ctx, batch(base+1000, "a", "d", "b", "e", "c"))
	var rej *store.RejectedError
	require.ErrorAs(t, err, &rej)
	assert.Equal(t, 2, rej.Count)
	assert.Equal(t, ReasonSeriesLimit, rej.Reason)
	assert.Contains(t, rej.Error(), "max_head_series")
	// Existing series keep flowing, including after they left the series cache (a restart, a rotation).
	require.NoError(t, db.Append(ctx, batch(base+2000, "a", "b", "c")))
	for i := range db.shards {
		db.shards[i].cur, db.shards[i].prev = map[uint64]*seriesEntry{}, nil
	}
	require.NoError(t, db.Append(ctx, batch(base+3000, "a", "b", "c")))
	got := readAll(t, db)
	assert.Len(t, got, 3)
	for _, pts := range got {
		assert.Len(t, pts, 4)
	}
	assert.Equal(t, 2.0, testutil.ToFloat64(db.metrics.samplesRejected.WithLabelValues(ReasonSeriesLimit)))
	assert.Equal(t, uint64(3), db.HeadSeries())
}

// writeRaw writes samples to dir with the Prometheus TSDB itself, as a version without the future check did.
func writeRaw(t *testing.T, dir string, samples []store.Sample) {
	t.Helper()
	opts := promtsdb.DefaultOptions()
	opts.OutOfOrderTimeWindow = time.Hour.Milliseconds()
	pdb, err := promtsdb.Open(dir, nil, nil, opts, nil)
	require.NoError(t, err)
	appendRaw(t, pdb.Appender(context.Background()), samples)
	require.NoError(t, pdb.Close())
}

// appendRaw appends samples to app and commits them.
func appendRaw(t *testing.T, app storage.Appender, samples []store.Sample) {
	t.Helper()
	for _, s := range samples {
		lb := labels.NewScratchBuilder(4)
		lb.Add(labels.MetricName, s.Name)
		for _, l := range s.Labels {
			lb.Add(l.Name, l.Value)
		}
		lb.Sort()
		_, err := app.Append(0, lb.Labels(), s.T, s.V)
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
}

// writeRawBlock writes samples as a persisted block in dir, as a compaction of a future-pushed head did.
func writeRawBlock(t *testing.T, dir string, samples []store.Sample) {
	t.Helper()
	w, err := promtsdb.NewBlockWriter(slog.New(slog.DiscardHandler), dir, 1<<50)
	require.NoError(t, err)
	defer w.Close()
	appendRaw(t, w.Appender(context.Background()), samples)
	_, err = w.Flush(context.Background())
	require.NoError(t, err)
}

var recoveryCases = []struct {
	name  string
	ahead int64 // future sample time, Unix ms
	block bool  // the future sample is in a persisted block, not in the WAL
	// blockPresent is how many present samples share the block with the future one; the rest are in the WAL.
	blockPresent int
}{
	{"head +2h", base + (2 * time.Hour).Milliseconds(), false, 0},
	{"head +30d", base + (30 * 24 * time.Hour).Milliseconds(), false, 0},
	{"head 9999-12-31", 253402300799000, false, 0},
	{"block +30d with present samples", base + (30 * 24 * time.Hour).Milliseconds(), true, 10},
	{"block entirely in the future", base + (30 * 24 * time.Hour).Milliseconds(), true, 0},
}

// TestOpenRecoversFuturePushedDir: a data directory where an older version stored a far-future sample refused
// every present sample, also after a restart. Open quarantines the future samples and keeps the present ones.
func TestOpenRecoversFuturePushedDir(t *testing.T) {
	for _, tc := range recoveryCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var present []store.Sample
			for i := range 20 {
				present = append(present, store.Sample{Name: "body_temperature", Labels: lbls("device", "good"),
					T: base - (20-int64(i))*30_000, V: 36 + float64(i)/10})
			}
			evil := store.Sample{Name: "body_temperature", Labels: lbls("device", "evil"), T: tc.ahead, V: 36.6}
			if tc.block {
				writeRaw(t, dir, present[tc.blockPresent:])
				writeRawBlock(t, dir, append(append([]store.Sample(nil), present[:tc.blockPresent]...), evil))
			} else {
				writeRaw(t, dir, append(append([]store.Sample(nil), present...), evil))
			}
			nowSample := []store.Sample{{Name: "body_temperature", Labels: lbls("device", "other"), T: base, V: 37}}

			// The bug, with the check disabled: the present is refused.
			{
				old := openT(t, Config{Dir: dir, MaxFutureSkew: -1}, Deps{Clock: clock.NewFake(futureNow)})
				err := old.Append(context.Background(), nowSample)
				var rej *store.RejectedError
				require.ErrorAs(t, err, &rej, "a future-pushed directory refuses the present")
				require.NoError(t, old.Close())
			}

			setMtimes(t, dir, futureNow.Add(-time.Minute)) // written before the test's now, by the test's clock
			logs := &testenv.Buffer{}
			reg := prometheus.NewRegistry()
			db := openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(futureNow), Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
			require.NoError(t, db.Append(context.Background(), nowSample), "present samples are accepted")
			got := readAll(t, db)
			assert.Len(t, got[`{__name__="body_temperature", device="good"}`], len(present), "present samples are kept")
			assert.Len(t, got[`{__name__="body_temperature", device="other"}`], 1)
			assert.NotContains(t, got, `{__name__="body_temperature", device="evil"}`, "the future sample is gone")
			assert.Equal(t, 1.0, testutil.ToFloat64(db.metrics.futureQuarantined))
			assert.Contains(t, logs.String(), "quarantine")
			entries, err := os.ReadDir(filepath.Join(dir, quarantineDir))
			require.NoError(t, err)
			require.Len(t, entries, 1, "the moved files are kept for inspection")

			// A restart keeps it all, without another recovery.
			require.NoError(t, db.Close())
			setMtimes(t, dir, futureNow.Add(-time.Minute))
			db = openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(futureNow)})
			assert.Zero(t, testutil.ToFloat64(db.metrics.futureQuarantined))
			got = readAll(t, db)
			assert.Len(t, got[`{__name__="body_temperature", device="good"}`], len(present))
			assert.Len(t, got[`{__name__="body_temperature", device="other"}`], 1)
			require.NoError(t, db.Append(context.Background(), []store.Sample{
				{Name: "body_temperature", Labels: lbls("device", "other"), T: base + 1000, V: 37.1}}))
			entries, err = os.ReadDir(filepath.Join(dir, quarantineDir))
			require.NoError(t, err)
			assert.Len(t, entries, 1)
		})
	}
}

// setMtimes sets the modification time of every file under dir, as if the clock at the time had been at.
func setMtimes(t *testing.T, dir string, at time.Time) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Chtimes(path, at, at)
	}))
}

// TestOpenRecoversAlsoWhenTheClockLooksBehind: when the clock is behind the directory's last write, either the
// clock went backwards (an edge box booting without a real-time clock: the "future" samples are present ones) or
// it ran ahead earlier and was corrected (they are in the future, and skipping recovery would keep the box
// refusing the present). Open cannot tell: it recovers, says so at ERROR level with what it moved, counts it, and
// moving the files back restores the samples.
func TestOpenRecoversAlsoWhenTheClockLooksBehind(t *testing.T) {
	dir := t.TempDir()
	later := base + (24 * time.Hour).Milliseconds()
	writeRaw(t, dir, message("a", later, 1))
	setMtimes(t, dir, time.UnixMilli(later))
	logs := &testenv.Buffer{}
	reg := prometheus.NewRegistry()
	db := openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(futureNow), Registerer: reg, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	assert.Empty(t, readAll(t, db), "the samples after the limit were moved")
	assert.Equal(t, 5.0, testutil.ToFloat64(db.metrics.futureQuarantined))
	n, err := testutil.GatherAndCount(reg, "citywatch_tsdb_future_recoveries_clock_behind_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP citywatch_tsdb_future_recoveries_clock_behind_total Recoveries from samples stamped in the future that Open ran although the clock was behind the data directory's last write (if the clock went backwards, the moved samples are present ones: see the log to put them back).
# TYPE citywatch_tsdb_future_recoveries_clock_behind_total counter
citywatch_tsdb_future_recoveries_clock_behind_total 1
`), "citywatch_tsdb_future_recoveries_clock_behind_total"))
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "the clock is behind the data directory's last write")
	assert.Contains(t, logs.String(), `moved="[wal wbl chunks_head]"`)
	require.NoError(t, db.Close())

	// Undo, as docs/operations.md says: with the clock right (here: at the samples' time), put the moved WAL back.
	qs, err := os.ReadDir(filepath.Join(dir, quarantineDir))
	require.NoError(t, err)
	require.Len(t, qs, 1)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "wal")))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "chunks_head")))
	require.NoError(t, os.Rename(filepath.Join(dir, quarantineDir, qs[0].Name(), "wal"), filepath.Join(dir, "wal")))
	db = openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(time.UnixMilli(later))})
	assert.Len(t, readAll(t, db), 5, "the moved samples are back")
}

// TestOpenWithAClockBehindAndNothingInTheFutureDoesNotWarn: a clock behind the last write alone moves nothing
// and is not counted.
func TestOpenWithAClockBehindAndNothingInTheFutureDoesNotWarn(t *testing.T) {
	dir := t.TempDir()
	writeRaw(t, dir, message("a", base-1000, 1))
	setMtimes(t, dir, futureNow.Add(time.Hour))
	logs := &testenv.Buffer{}
	reg := prometheus.NewRegistry()
	db := openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(futureNow), Registerer: reg, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	assert.Len(t, readAll(t, db), 5)
	assert.NotContains(t, logs.String(), "level=ERROR")
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP citywatch_tsdb_future_recoveries_clock_behind_total Recoveries from samples stamped in the future that Open ran although the clock was behind the data directory's last write (if the clock went backwards, the moved samples are present ones: see the log to put them back).
# TYPE citywatch_tsdb_future_recoveries_clock_behind_total counter
citywatch_tsdb_future_recoveries_clock_behind_total 0
`), "citywatch_tsdb_future_recoveries_clock_behind_total"))
}

// TestOpenWithoutFutureSamplesTouchesNothing: a normal directory is opened as it is.
func TestOpenWithoutFutureSamplesTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	writeRaw(t, dir, message("a", base-1000, 1))
	setMtimes(t, dir, futureNow.Add(-time.Minute))
	db := openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(futureNow)})
	_, err := os.Stat(filepath.Join(dir, quarantineDir))
	assert.True(t, errors.Is(err, os.ErrNotExist))
	assert.Len(t, readAll(t, db), 5)
}

// series returns n samples of device, one every step from start.
func series(device string, start, step int64, n int) []store.Sample {
	out := make([]store.Sample, n)
	for i := range out {
		out[i] = store.Sample{Name: "body_temperature", Labels: lbls("device", device), T: start + int64(i)*step, V: 36}
	}
	return out
}

// key is the readAll key of device's series.
func key(device string) string { return `{__name__="body_temperature", device="` + device + `"}` }

// blockMetas returns the meta of every block in dir by ULID.
func blockMetas(t *testing.T, dir string) map[string]promtsdb.BlockMeta {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]promtsdb.BlockMeta{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "meta.json"))
		if err != nil {
			continue
		}
		var m promtsdb.BlockMeta
		require.NoError(t, json.Unmarshal(b, &m))
		out[e.Name()] = m
	}
	return out
}

// markOutOfOrder marks every block in dir as compacted from the out-of-order head, as the TSDB marks the blocks
// it writes from out-of-order samples: such blocks may lie inside the head's range.
func markOutOfOrder(t *testing.T, dir string) {
	t.Helper()
	for id, m := range blockMetas(t, dir) {
		m.Compaction.SetOutOfOrder()
		b, err := json.Marshal(m)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, id, "meta.json"), b, 0o644))
	}
}

// TestOpenRecoversTheHeadAlone: the head is rewritten from the head alone. A persisted block inside the head's
// range (written from out-of-order samples) is left as it is and not copied, and a head whose minimum time is
// ancient (an old version took a sample stamped 1970) is rewritten from the start of the retention only: the
// rewrite does not span, nor hold in memory, the whole retention.
func TestOpenRecoversTheHeadAlone(t *testing.T) {
	for _, ancient := range []bool{false, true} {
		t.Run(map[bool]string{false: "block inside the head's range", true: "head from 1970"}[ancient], func(t *testing.T) {
			dir := t.TempDir()
			good := series("good", base-20*30_000, 30_000, 20)
			head := append(append([]store.Sample(nil), good...),
				store.Sample{Name: "body_temperature", Labels: lbls("device", "evil"), T: base + (30 * 24 * time.Hour).Milliseconds(), V: 36.6})
			if ancient {
				head = append(series("ancient", 1000, 1, 1), head...)
			}
			writeRaw(t, dir, head)
			persisted := series("persisted", base-15*60_000, 10_000, 30)
			writeRawBlock(t, dir, persisted)
			markOutOfOrder(t, dir)
			before := blockMetas(t, dir)
			require.Len(t, before, 1)

			setMtimes(t, dir, futureNow.Add(-time.Minute))
			db := openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(futureNow)})
			got := readAll(t, db)
			assert.Len(t, got[key("good")], len(good), "present head samples are kept")
			assert.Len(t, got[key("persisted")], len(persisted), "the persisted block is kept")
			assert.NotContains(t, got, key("evil"), "the future sample is quarantined")
			assert.NotContains(t, got, key("ancient"), "a sample older than the retention is quarantined with the head")
			assert.Equal(t, 1.0, testutil.ToFloat64(db.metrics.futureQuarantined))

			after := blockMetas(t, dir)
			require.Len(t, after, 2, "the persisted block and the head's new block")
			for id, m := range after {
				if _, ok := before[id]; ok {
					assert.Equal(t, before[id], m, "the persisted block is untouched")
					continue
				}
				assert.Equal(t, uint64(len(good)), m.Stats.NumSamples, "only the head's samples are in the new block")
				assert.GreaterOrEqual(t, m.MinTime, futureNow.Add(-DefaultRetention).UnixMilli())
			}
		})
	}
}

// TestOpenRecoversOutOfOrderHeadSamples: present samples that went into the out-of-order head (within the
// window behind a future sample of the same series) are kept.
func TestOpenRecoversOutOfOrderHeadSamples(t *testing.T) {
	dir := t.TempDir()
	writeRaw(t, dir, series("a", base+(40*time.Minute).Milliseconds(), 1, 1))
	ooo := series("a", base-10*60_000, 60_000, 10)
	writeRaw(t, dir, ooo)
	setMtimes(t, dir, futureNow.Add(-time.Minute))
	db := openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(futureNow)})
	got := readAll(t, db)
	require.Len(t, got[key("a")], len(ooo))
	assert.Less(t, got[key("a")][len(ooo)-1].T, futureNow.UnixMilli())
	assert.Equal(t, 1.0, testutil.ToFloat64(db.metrics.futureQuarantined))
}

var errCrash = errors.New("crash")

// TestRecoveryCrashHidesNoPresentSample: a crash after any change the recovery makes to the data directory (the
// new block renamed in, each original moved out) leaves every present sample in the data directory, and the next
// start finishes the recovery with all of them.
func TestRecoveryCrashHidesNoPresentSample(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	limit := futureNow.Add(DefaultMaxFutureSkew).UnixMilli()
	good := series("good", base-20*30_000, 30_000, 20)
	evil := series("evil", base+(30*24*time.Hour).Milliseconds(), 1, 1)
	for _, kind := range []string{"block", "head"} {
		t.Run(kind, func(t *testing.T) {
			for crashAt := 1; ; crashAt++ {
				dir := t.TempDir()
				if kind == "block" {
					writeRaw(t, dir, good[10:])
					writeRawBlock(t, dir, append(append([]store.Sample(nil), good[:10]...), evil...))
				} else {
					writeRaw(t, dir, append(append([]store.Sample(nil), good...), evil...))
				}
				q := newQuarantine(dir, futureNow)
				steps := 0
				q.changed = func(string) error {
					if steps++; steps == crashAt {
						return errCrash
					}
					return nil
				}
				var err error
				if kind == "block" {
					_, _, err = recoverBlocks(ctx, dir, limit, q, logger)
				} else {
					opts := promtsdb.DefaultOptions()
					opts.OutOfOrderTimeWindow = time.Hour.Milliseconds()
					pdb, oerr := promtsdb.Open(dir, nil, nil, opts, nil)
					require.NoError(t, oerr)
					_, err = recoverHead(ctx, pdb, dir, futureNow.Add(-DefaultRetention).UnixMilli(), limit, q, logger)
				}
				crashed := errors.Is(err, errCrash)
				if !crashed {
					require.NoError(t, err)
				}
				if kind == "head" {
					// Without a recovery, the present samples are all in the data directory: in the WAL, the new
					// block, or both.
					db := openT(t, Config{Dir: dir, MaxFutureSkew: -1}, Deps{Clock: clock.NewFake(futureNow)})
					assert.Len(t, readAll(t, db)[key("good")], len(good), "crash after step %d", crashAt)
					require.NoError(t, db.Close())
				}
				setMtimes(t, dir, futureNow.Add(-time.Minute))
				db := openT(t, Config{Dir: dir}, Deps{Clock: clock.NewFake(futureNow)})
				got := readAll(t, db)
				assert.Len(t, got[key("good")], len(good), "crash after step %d: the next start keeps them all", crashAt)
				assert.NotContains(t, got, key("evil"), "crash after step %d", crashAt)
				require.NoError(t, db.Close())
				if !crashed {
					assert.Greater(t, crashAt, 2, "the recovery took several steps")
					return
				}
			}
		})
	}
}
