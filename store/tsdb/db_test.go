package tsdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// base is the time of the test samples: a fixed instant, so tests do not depend on the clock.
const base = int64(1_700_000_000_000)

func openT(t testing.TB, cfg Config, deps Deps) *DB {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	db, err := Open(cfg, deps)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func lbls(kv ...string) []store.Label {
	ls := make([]store.Label, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, store.Label{Name: kv[i], Value: kv[i+1]})
	}
	return store.SortLabels(ls)
}

type point struct {
	T int64
	V float64
}

// readAll returns every float sample of the series matching ms, keyed by the series' labels.
func readAll(t testing.TB, q storage.Queryable, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	if len(ms) == 0 {
		ms = []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")}
	}
	qr, err := q.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer qr.Close()
	out := map[string][]point{}
	set := qr.Select(context.Background(), true, nil, ms...)
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		var pts []point
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			require.Equal(t, chunkenc.ValFloat, vt)
			ts, v := it.At()
			pts = append(pts, point{ts, v})
		}
		require.NoError(t, it.Err())
		out[s.Labels().String()] = pts
	}
	require.NoError(t, set.Err())
	return out
}

// message returns the 5 samples one sensor message produces.
func message(device string, t int64, v float64) []store.Sample {
	ls := lbls("district", "d1", "site", "siteA", "device", device)
	names := []string{"temperature", "humidity", "co2", "pm25", "noise"}
	out := make([]store.Sample, len(names))
	for i, n := range names {
		out[i] = store.Sample{Name: n, Labels: ls, T: t, V: v + float64(i)}
	}
	return out
}

func TestAppendQueryRoundTrip(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	for i := range 10 {
		require.NoError(t, db.Append(ctx, message("s1", base+int64(i)*1000, float64(i))))
		require.NoError(t, db.Append(ctx, message("s2", base+int64(i)*1000, float64(100+i))))
	}
	require.EqualValues(t, 10, db.HeadSeries())

	got := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "humidity"))
	require.Len(t, got, 2)
	s1 := got[`{__name__="humidity", device="s1", district="d1", site="siteA"}`]
	require.Len(t, s1, 10)
	for i, p := range s1 {
		require.Equal(t, point{base + int64(i)*1000, float64(i) + 1}, p)
	}
	s2 := got[`{__name__="humidity", device="s2", district="d1", site="siteA"}`]
	require.Len(t, s2, 10)
	require.Equal(t, point{base + 9000, 110}, s2[9])
}

func TestAppendUnsortedCallIsCommittedInOrder(t *testing.T) {
	db := openT(t, Config{OutOfOrderWindow: -1}, Deps{})
	ls := lbls("device", "x")
	// Newest first within one call: every sample must still be stored, with OOO disabled.
	err := db.Append(context.Background(), []store.Sample{
		{Name: "m", Labels: ls, T: base + 3000, V: 3},
		{Name: "m", Labels: ls, T: base + 1000, V: 1},
		{Name: "m", Labels: ls, T: base + 2000, V: 2},
	})
	require.NoError(t, err)
	got := readAll(t, db)
	require.Equal(t, []point{{base + 1000, 1}, {base + 2000, 2}, {base + 3000, 3}}, got[`{__name__="m", device="x"}`])
}

func TestRestartPersistence(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Config{Dir: dir}, Deps{})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, db.Append(context.Background(), message("s1", base+int64(i)*1000, float64(i))))
	}
	want := readAll(t, db)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")

	db2 := openT(t, Config{Dir: dir}, Deps{})
	require.Equal(t, want, readAll(t, db2))
	require.EqualValues(t, 5, db2.HeadSeries())
	// Appending after the restart continues the same series.
	require.NoError(t, db2.Append(context.Background(), message("s1", base+50_000, 50)))
	got := readAll(t, db2, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "temperature"))
	require.Len(t, got[`{__name__="temperature", device="s1", district="d1", site="siteA"}`], 51)
}

const crashChildEnv = "CITYWATCH_TSDB_CRASH_CHILD_DIR"

// crashCalls is how many Append calls the crash child makes before it reports and waits to be killed.
const crashCalls = 2000

// TestWALReplayAfterKill appends in a child process that is SIGKILLed right after Append returned, and checks
// that every acknowledged sample is read back from the write-ahead log.
func TestWALReplayAfterKill(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWALReplayAfterKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	sc := bufio.NewScanner(out)
	acked := false
	for sc.Scan() {
		if sc.Text() == "ACKED" {
			acked = true
			break
		}
	}
	require.True(t, acked, "child did not report its appends: %v", sc.Err())
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "the child must die by the signal")

	db := openT(t, Config{Dir: dir}, Deps{})
	got := readAll(t, db)
	require.Len(t, got, 10)
	for _, dev := range []string{"a", "b"} {
		pts := got[`{__name__="co2", device="`+dev+`", district="d1", site="siteA"}`]
		require.Len(t, pts, crashCalls/2, "device %s", dev)
		for i, p := range pts {
			require.Equal(t, base+int64(i)*1000, p.T)
		}
	}
}

func crashChild(dir string) {
	db, err := Open(Config{Dir: dir}, Deps{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	for i := range crashCalls {
		dev := []string{"a", "b"}[i%2]
		if err := db.Append(context.Background(), message(dev, base+int64(i/2)*1000, float64(i))); err != nil {
			fmt.Fprintln(os.Stderr, "child append:", err)
			os.Exit(2)
		}
	}
	fmt.Println("ACKED")
	select {} // Wait for SIGKILL, never closing the DB.
}

func TestOutOfOrderWindow(t *testing.T) {
	reg := prometheus.NewRegistry()
	db := openT(t, Config{OutOfOrderWindow: time.Hour}, Deps{Registerer: reg})
	ctx := context.Background()
	ls := lbls("device", "x")
	hour := time.Hour.Milliseconds()
	require.NoError(t, db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base + 3*hour, V: 3}}))

	// 30 minutes late: within the window, stored.
	require.NoError(t, db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base + 3*hour - hour/2, V: 2.5}}))

	// Two hours late, in a call with a good sample: the late one is rejected, the good one committed.
	err := db.Append(ctx, []store.Sample{
		{Name: "m", Labels: ls, T: base + hour, V: 1},
		{Name: "m", Labels: ls, T: base + 3*hour + 1000, V: 4},
	})
	var rej *store.RejectedError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, 1, rej.Count)
	require.Equal(t, ReasonTooOld, rej.Reason)
	require.ErrorIs(t, err, storage.ErrTooOldSample)
	require.Contains(t, err.Error(), `m{device="x"}`)

	got := readAll(t, db)[`{__name__="m", device="x"}`]
	require.Equal(t, []point{{base + 3*hour - hour/2, 2.5}, {base + 3*hour, 3}, {base + 3*hour + 1000, 4}}, got)
	require.InDelta(t, 1, testutil.ToFloat64(db.metrics.samplesRejected.WithLabelValues(ReasonTooOld)), 0)
	require.InDelta(t, 3, testutil.ToFloat64(db.metrics.samplesAppended), 0)
}

func TestOutOfOrderDisabled(t *testing.T) {
	db := openT(t, Config{OutOfOrderWindow: -1}, Deps{})
	ctx := context.Background()
	ls := lbls("device", "x")
	require.NoError(t, db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base + 10_000, V: 1}}))
	err := db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base + 5_000, V: 1}})
	var rej *store.RejectedError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, ReasonOutOfOrder, rej.Reason)
}

func TestDuplicates(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	ls := lbls("device", "x")
	require.NoError(t, db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base, V: 1}}))
	// The same reading again is accepted (idempotent redelivery).
	require.NoError(t, db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base, V: 1}}))

	err := db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base, V: 2}})
	var rej *store.RejectedError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, ReasonDuplicate, rej.Reason)

	// Within one call: both values for one timestamp, and the labels spelt in another order for the second.
	ls2 := []store.Label{{Name: "zone", Value: "z"}, {Name: "device", Value: "y"}}
	err = db.Append(ctx, []store.Sample{
		{Name: "m", Labels: lbls("device", "y", "zone", "z"), T: base, V: 1},
		{Name: "m", Labels: ls2, T: base, V: 2},
		{Name: "m", Labels: lbls("device", "y", "zone", "z"), T: base, V: 1},
	})
	require.ErrorAs(t, err, &rej)
	require.Equal(t, 1, rej.Count)
	require.Equal(t, ReasonDuplicate, rej.Reason)
	got := readAll(t, db)
	require.Equal(t, []point{{base, 1}}, got[`{__name__="m", device="y", zone="z"}`])
	require.Equal(t, []point{{base, 1}}, got[`{__name__="m", device="x"}`])
}

// TestDuplicatesInLongRun covers the map-based duplicate detection of calls with many samples per timestamp.
func TestDuplicatesInLongRun(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	var ss []store.Sample
	for i := range 100 {
		ss = append(ss, store.Sample{Name: "m", Labels: lbls("i", strconv.Itoa(i)), T: base, V: float64(i)})
	}
	ss = append(ss, store.Sample{Name: "m", Labels: lbls("i", "7"), T: base, V: 7})  // Same value: fine.
	ss = append(ss, store.Sample{Name: "m", Labels: lbls("i", "42"), T: base, V: 0}) // Another value.
	err := db.Append(context.Background(), ss)
	requireOneDuplicate(t, err)
	got := readAll(t, db)
	require.Len(t, got, 100)
	require.Equal(t, []point{{base, 42}}, got[`{__name__="m", i="42"}`])
}

// invalidSeriesCases are series the store refuses; they also seed FuzzAppend.
var invalidSeriesCases = []struct {
	name   string
	sample store.Sample
	want   string
}{
	{"empty name", store.Sample{Name: "", Labels: lbls("a", "b")}, "empty metric name"},
	{"name not UTF-8", store.Sample{Name: "m\xff"}, "not valid UTF-8"},
	{"empty label name", store.Sample{Name: "m", Labels: []store.Label{{Name: "", Value: "v"}}}, "empty label name"},
	{"reserved label", store.Sample{Name: "m", Labels: []store.Label{{Name: "__name__", Value: "v"}}}, "reserved"},
	{"label value not UTF-8", store.Sample{Name: "m", Labels: []store.Label{{Name: "a", Value: "\xc3\x28"}}}, "not valid UTF-8"},
	{"label name not UTF-8", store.Sample{Name: "m", Labels: []store.Label{{Name: "\xff", Value: "v"}}}, "not valid UTF-8"},
	{"repeated label", store.Sample{Name: "m", Labels: []store.Label{{Name: "a", Value: "1"}, {Name: "a", Value: "2"}}}, "repeated"},
}

func TestInvalidSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	db := openT(t, Config{}, Deps{Registerer: reg})
	for _, tc := range invalidSeriesCases {
		t.Run(tc.name, func(t *testing.T) {
			good := store.Sample{Name: "good", Labels: lbls("case", tc.name), T: base, V: 1}
			s := tc.sample
			s.T = base
			err := db.Append(context.Background(), []store.Sample{s, good})
			var rej *store.RejectedError
			require.ErrorAs(t, err, &rej)
			require.Equal(t, ReasonInvalidSeries, rej.Reason)
			require.Equal(t, 1, rej.Count)
			require.Contains(t, err.Error(), tc.want)
			require.Len(t, readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "case", tc.name)), 1, "the good sample is stored")
		})
	}
	require.InDelta(t, float64(len(invalidSeriesCases)),
		testutil.ToFloat64(db.metrics.samplesRejected.WithLabelValues(ReasonInvalidSeries)), 0)
}

func TestEmptyLabelValueIsNoLabel(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	require.NoError(t, db.Append(context.Background(), []store.Sample{
		{Name: "m", Labels: lbls("a", "", "b", "1"), T: base, V: 1},
	}))
	require.Equal(t, []point{{base, 1}}, readAll(t, db)[`{__name__="m", b="1"}`])
}

func TestMixedRejectionReasons(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	ls := lbls("device", "x")
	require.NoError(t, db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base + 5*time.Hour.Milliseconds(), V: 1}}))
	err := db.Append(ctx, []store.Sample{
		{Name: "m", Labels: ls, T: base, V: 1}, // Too old.
		{Name: "", T: base + 5*time.Hour.Milliseconds()},
	})
	var rej *store.RejectedError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, 2, rej.Count)
	require.Equal(t, ReasonMultiple, rej.Reason)
}

func TestRetention(t *testing.T) {
	db := openT(t, Config{Retention: 3 * time.Hour}, Deps{})
	ctx := context.Background()
	ls := lbls("device", "x")
	// Ten hours of one sample per minute; compaction cuts 2h blocks, retention then drops the old ones.
	for m := int64(0); m < 600; m++ {
		require.NoError(t, db.Append(ctx, []store.Sample{{Name: "m", Labels: ls, T: base + m*60_000, V: float64(m)}}))
	}
	require.NoError(t, db.db.Compact(ctx))
	require.NotEmpty(t, db.db.Blocks(), "compaction wrote blocks")

	pts := readAll(t, db)[`{__name__="m", device="x"}`]
	require.NotEmpty(t, pts)
	oldest := pts[0].T
	newest := pts[len(pts)-1].T
	require.Equal(t, base+599*60_000, newest)
	require.Greater(t, oldest, base+2*time.Hour.Milliseconds(), "samples older than the retention were deleted")
	for _, b := range db.db.Blocks() {
		require.GreaterOrEqual(t, b.Meta().MaxTime, db.db.Blocks()[len(db.db.Blocks())-1].Meta().MaxTime-3*time.Hour.Milliseconds())
	}
}

func TestConcurrentAppenders(t *testing.T) {
	reg := prometheus.NewRegistry()
	db := openT(t, Config{}, Deps{Registerer: reg})
	const workers, calls = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				// Every worker writes its own device and, at distinct times, a shared one.
				if err := db.Append(context.Background(), message("dev"+strconv.Itoa(w), base+int64(i)*1000, 1)); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				s := store.Sample{Name: "shared", Labels: lbls("k", "v"), T: base + int64(i*workers+w), V: float64(w)}
				if err := db.Append(context.Background(), []store.Sample{s}); err != nil {
					t.Errorf("worker %d shared: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := readAll(t, db)
	require.Len(t, got, workers*5+1)
	require.Len(t, got[`{__name__="shared", k="v"}`], workers*calls, "every shared sample stored, in or out of order")
	require.InDelta(t, float64(workers*calls*6), testutil.ToFloat64(db.metrics.samplesAppended), 0)
}

// TestConcurrentDuplicates races calls writing different values at the same timestamp of one series: exactly
// one value is stored and every other call is told its sample was rejected, none is dropped silently.
func TestConcurrentDuplicates(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	const workers = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted []float64
		rejected int
	)
	for w := range workers {
		wg.Go(func() {
			err := db.Append(context.Background(), []store.Sample{{Name: "m", Labels: lbls("k", "v"), T: base, V: float64(w)}})
			mu.Lock()
			defer mu.Unlock()
			var rej *store.RejectedError
			switch {
			case err == nil:
				accepted = append(accepted, float64(w))
			case errors.As(err, &rej) && rej.Reason == ReasonDuplicate:
				rejected++
			default:
				t.Errorf("worker %d: %v", w, err)
			}
		})
	}
	wg.Wait()
	require.Len(t, accepted, 1)
	require.Equal(t, workers-1, rejected)
	require.Equal(t, []point{{base, accepted[0]}}, readAll(t, db)[`{__name__="m", k="v"}`])
}

func TestSeriesCache(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	s := store.Sample{Name: "m", Labels: lbls("k", "v"), T: base, V: 1}
	require.NoError(t, db.Append(ctx, []store.Sample{s}))
	sh, h := seriesHashes(&s)
	e := db.shards[sh%numShards].lookup(h, &s)
	require.NotNil(t, e)
	require.NotZero(t, e.ref, "the TSDB reference is cached")

	// Two generations later the entry is forgotten; the series is found again by its labels.
	for range 2 {
		for i := range db.shards {
			db.shards[i].rotated = time.Now().Add(-2 * cacheGeneration)
		}
		s.T += 1000
		require.NoError(t, db.Append(ctx, []store.Sample{s}))
	}
	require.EqualValues(t, 1, db.HeadSeries())
	require.Len(t, readAll(t, db)[`{__name__="m", k="v"}`], 3)
}

// TestSeriesCacheCollision plants an entry of another series under a sample's hash: the cache must compare
// the series, not trust the hash.
func TestSeriesCacheCollision(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx := context.Background()
	a := store.Sample{Name: "a", Labels: lbls("k", "v"), T: base, V: 1}
	b := store.Sample{Name: "b", Labels: lbls("k", "v"), T: base, V: 2}
	require.NoError(t, db.Append(ctx, []store.Sample{a}))
	shA, hA := seriesHashes(&a)
	shB, hB := seriesHashes(&b)
	require.Equal(t, shA, shB, "same labels, same shard")
	sh := &db.shards[shA%numShards]
	sh.cur[hB] = sh.cur[hA] // b's hash now leads to a's entry.

	require.NoError(t, db.Append(ctx, []store.Sample{b}))
	got := readAll(t, db)
	require.Equal(t, []point{{base, 1}}, got[`{__name__="a", k="v"}`])
	require.Equal(t, []point{{base, 2}}, got[`{__name__="b", k="v"}`])
}

func TestAppendAfterCloseAndCanceled(t *testing.T) {
	db := openT(t, Config{}, Deps{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, db.Append(ctx, message("x", base, 1)), context.Canceled)
	require.NoError(t, db.Append(context.Background(), nil))
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Append(context.Background(), message("x", base, 1)), ErrClosed)
	_, err := db.Querier(0, 1)
	require.ErrorIs(t, err, ErrClosed)
	_, err = db.ChunkQuerier(0, 1)
	require.ErrorIs(t, err, ErrClosed)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	db, err := Open(Config{Dir: dir}, Deps{Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, db.Append(context.Background(), message("x", base, 1)))

	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	require.Subset(t, names, []string{"citywatch_tsdb_head_series", "citywatch_store_samples_appended_total",
		"citywatch_store_samples_rejected_total", "citywatch_store_append_duration_seconds",
		"citywatch_prometheus_tsdb_head_samples_appended_total", "citywatch_prometheus_tsdb_wal_fsync_duration_seconds"})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP citywatch_tsdb_head_series Series in the embedded TSDB's in-memory head block.
# TYPE citywatch_tsdb_head_series gauge
citywatch_tsdb_head_series 5
# HELP citywatch_store_samples_appended_total Samples committed to the store.
# TYPE citywatch_store_samples_appended_total counter
citywatch_store_samples_appended_total{backend="tsdb"} 5
`), "citywatch_tsdb_head_series", "citywatch_store_samples_appended_total"))

	// Close unregisters everything, so a reopened DB can register on the same registry.
	require.NoError(t, db.Close())
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Zero(t, n)
	db2 := openT(t, Config{Dir: dir}, Deps{Registerer: reg})
	require.EqualValues(t, 5, db2.HeadSeries())
}

// configErrorCases are configurations Open refuses.
var configErrorCases = []struct {
	name string
	cfg  Config
	want string
}{
	{"no dir", Config{}, "data directory is required"},
	{"negative retention", Config{Dir: "x", Retention: -time.Hour}, "retention must be >= 0"},
	{"sub-ms retention", Config{Dir: "x", Retention: time.Microsecond}, "retention must be at least 1ms"},
	{"sub-ms window", Config{Dir: "x", OutOfOrderWindow: time.Microsecond}, "out-of-order window must be at least 1ms"},
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range configErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.cfg, Deps{})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOpenDirInUse(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	db := openT(t, Config{Dir: dir}, Deps{Registerer: reg})
	_, err := Open(Config{Dir: dir}, Deps{Registerer: reg})
	require.ErrorIs(t, err, ErrDirInUse)
	require.EqualError(t, err, "store/tsdb: data directory "+dir+" is in use by another citywatch process (lock "+
		filepath.Join(dir, "lock")+"); stop the other process or configure a different data directory")
	// The failed Open left the first DB, its lock and the registry intact.
	require.NoError(t, db.Append(context.Background(), message("x", base, 1)))
	_, err = os.Stat(filepath.Join(dir, "lock"))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	db2 := openT(t, Config{Dir: dir}, Deps{Registerer: reg})
	require.EqualValues(t, 5, db2.HeadSeries())
}

func TestOpenNotADirectory(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))

	_, err := Open(Config{Dir: file}, Deps{})
	require.ErrorIs(t, err, ErrNotDirectory)
	require.EqualError(t, err, "store/tsdb: data directory "+file+" is not a directory: "+file+
		" is a file; point the data directory at a directory (or remove the file)")

	under := filepath.Join(file, "sub", "data")
	_, err = Open(Config{Dir: under}, Deps{})
	require.ErrorIs(t, err, ErrNotDirectory)
	require.ErrorContains(t, err, "data directory "+under+" is not a directory: "+file+" is a file")
}

const permChildEnv = "CITYWATCH_TSDB_PERM_CHILD_DIR"

// TestOpenPermissionDenied opens a directory the process may not write. Root may write anywhere, so as root
// the Open runs in a child process (this test binary) with the uid of nobody.
func TestOpenPermissionDenied(t *testing.T) {
	if dir := os.Getenv(permChildEnv); dir != "" {
		_, err := Open(Config{Dir: dir}, Deps{})
		fmt.Printf("ISNOTWRITABLE=%v\nERR=%v\n", errors.Is(err, ErrDirNotWritable), err)
		return
	}
	tmp, err := os.MkdirTemp("", "citywatch-perm-*")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	require.NoError(t, os.Chmod(tmp, 0o755))
	ro := filepath.Join(tmp, "ro")
	require.NoError(t, os.Mkdir(ro, 0o755))

	cases := []struct{ dir, path string }{
		{ro, ro},                        // Existing directory, not writable.
		{filepath.Join(ro, "data"), ro}, // Missing directory under a non-writable one.
	}
	for _, c := range cases {
		var msg string
		if os.Getuid() != 0 {
			require.NoError(t, os.Chmod(ro, 0o555))
			_, err := Open(Config{Dir: c.dir}, Deps{})
			require.ErrorIs(t, err, ErrDirNotWritable)
			msg = err.Error()
		} else {
			msg = runAsNobody(t, tmp, c.dir)
		}
		require.Contains(t, msg, "store/tsdb: cannot ")
		require.Contains(t, msg, c.dir+": permission denied on "+c.path)
		require.Contains(t, msg, "sudo chown -R")
	}
}

// runAsNobody runs TestOpenPermissionDenied's child mode as uid/gid 65534 and returns its error message.
func runAsNobody(t *testing.T, tmp, dir string) string {
	t.Helper()
	// The test binary lives in a directory only root can enter: run a copy.
	exe, err := os.Executable()
	require.NoError(t, err)
	bin, err := os.ReadFile(exe)
	require.NoError(t, err)
	cp := filepath.Join(tmp, "tsdb.test")
	require.NoError(t, os.WriteFile(cp, bin, 0o755))

	cmd := exec.Command(cp, "-test.run=^TestOpenPermissionDenied$", "-test.count=1")
	cmd.Env = append(os.Environ(), permChildEnv+"="+dir)
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child: %s", out)
	require.Contains(t, string(out), "ISNOTWRITABLE=true", "child: %s", out)
	_, msg, ok := strings.Cut(string(out), "ERR=")
	require.True(t, ok, "child: %s", out)
	msg, _, _ = strings.Cut(msg, "\n")
	return msg
}

// FuzzAppend appends arbitrary series: the store must store them or reject them with a RejectedError, never
// panic or fail, and a stored series must read back.
func FuzzAppend(f *testing.F) {
	for _, tc := range invalidSeriesCases {
		var ln, lv string
		if len(tc.sample.Labels) > 0 {
			ln, lv = tc.sample.Labels[0].Name, tc.sample.Labels[0].Value
		}
		f.Add(tc.sample.Name, ln, lv, int64(0), 1.0)
	}
	f.Add("temperature", "device", "s1", int64(1000), 21.5)
	f.Add("x", "a", "", int64(-5), math.NaN())
	db := openT(f, Config{}, Deps{})
	f.Fuzz(func(t *testing.T, name, ln, lv string, dt int64, v float64) {
		s := store.Sample{Name: name, T: base + dt%1000, V: v}
		if ln != "" || lv != "" {
			s.Labels = []store.Label{{Name: ln, Value: lv}}
		}
		err := db.Append(context.Background(), []store.Sample{s})
		var rej *store.RejectedError
		if err != nil && !errors.As(err, &rej) {
			t.Fatalf("Append(%+v): %v", s, err)
		}
		if err == nil {
			q, qerr := db.Querier(math.MinInt64, math.MaxInt64)
			if qerr != nil {
				t.Fatal(qerr)
			}
			defer q.Close()
			set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, name))
			if !set.Next() {
				t.Fatalf("stored series %+v not found: %v", s, set.Err())
			}
		}
	})
}

// requireOneDuplicate requires err to reject exactly one sample as a duplicate (another value at a taken time).
func requireOneDuplicate(t *testing.T, err error) {
	t.Helper()
	var rej *store.RejectedError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, 1, rej.Count)
	require.Equal(t, ReasonDuplicate, rej.Reason)
}
