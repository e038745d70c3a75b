package tsdb

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// now is the fixed clock of these tests.
var futureNow = time.UnixMilli(base)

func fixedClock() time.Time { return futureNow }

func TestAppendRefusesFutureSamples(t *testing.T) {
	db := openT(t, Config{}, Deps{Now: fixedClock})
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

// lockedBuffer is a log sink for tests.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// writeRaw writes samples to dir with the Prometheus TSDB itself, as a version without the future check did.
func writeRaw(t *testing.T, dir string, samples []store.Sample) {
	t.Helper()
	opts := promtsdb.DefaultOptions()
	opts.OutOfOrderTimeWindow = time.Hour.Milliseconds()
	pdb, err := promtsdb.Open(dir, nil, nil, opts, nil)
	require.NoError(t, err)
	app := pdb.Appender(context.Background())
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
	require.NoError(t, pdb.Close())
}

// writeRawBlock writes samples as a persisted block in dir, as a compaction of a future-pushed head did.
func writeRawBlock(t *testing.T, dir string, samples []store.Sample) {
	t.Helper()
	w, err := promtsdb.NewBlockWriter(slog.New(slog.DiscardHandler), dir, 1<<50)
	require.NoError(t, err)
	defer w.Close()
	app := w.Appender(context.Background())
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
				old := openT(t, Config{Dir: dir, MaxFutureSkew: -1}, Deps{Now: fixedClock})
				err := old.Append(context.Background(), nowSample)
				var rej *store.RejectedError
				require.ErrorAs(t, err, &rej, "a future-pushed directory refuses the present")
				require.NoError(t, old.Close())
			}

			setMtimes(t, dir, futureNow.Add(-time.Minute)) // written before the test's now, by the test's clock
			logs := &lockedBuffer{}
			reg := prometheus.NewRegistry()
			db := openT(t, Config{Dir: dir}, Deps{Now: fixedClock, Registerer: reg,
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
			db = openT(t, Config{Dir: dir}, Deps{Now: fixedClock})
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

// TestOpenLeavesFutureSamplesWhenTheClockWentBack: when the clock is behind the directory's last write (an edge
// box booting without a real-time clock), the "future" samples are the present ones: nothing is moved.
func TestOpenLeavesFutureSamplesWhenTheClockWentBack(t *testing.T) {
	dir := t.TempDir()
	later := base + (24 * time.Hour).Milliseconds()
	writeRaw(t, dir, message("a", later, 1))
	setMtimes(t, dir, time.UnixMilli(later))
	logs := &lockedBuffer{}
	db := openT(t, Config{Dir: dir}, Deps{Now: fixedClock, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	assert.Len(t, readAll(t, db), 5, "nothing was moved")
	_, err := os.Stat(filepath.Join(dir, quarantineDir))
	assert.True(t, errors.Is(err, os.ErrNotExist))
	assert.Contains(t, logs.String(), "the clock is behind")
}

// TestOpenWithoutFutureSamplesTouchesNothing: a normal directory is opened as it is.
func TestOpenWithoutFutureSamplesTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	writeRaw(t, dir, message("a", base-1000, 1))
	setMtimes(t, dir, futureNow.Add(-time.Minute))
	db := openT(t, Config{Dir: dir}, Deps{Now: fixedClock})
	_, err := os.Stat(filepath.Join(dir, quarantineDir))
	assert.True(t, errors.Is(err, os.ErrNotExist))
	assert.Len(t, readAll(t, db), 5)
}
