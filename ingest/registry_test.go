package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/ingest/mapping"
	"citywatch/internal/sqlitedb"
	"citywatch/store"
)

// registryScale is how many devices TestRegistryWorkPerOperation keeps: a million, as a city-scale edge
// (166k devices × 6 series is the 1M-series goal), fewer under the race detector, which multiplies memory,
// and fewer still under -short (the unit run's 60 s budget: there it took 10 CPU s at 100,000). The work per
// operation is counted, not timed, so every scale checks the same bound; 10,000 is still 150 devices a shard.
func registryScale() int {
	switch {
	case testing.Short():
		return 10_000
	case raceEnabled:
		return 100_000
	}
	return 1_000_000
}

// TestRegistryWorkPerOperation fills the registry with a million devices and then inserts a million more,
// each of which evicts the longest-silent one. The work of every operation is counted, not timed: an eviction
// may look at the tail of each shard and remove one device (registryShards + 1 steps), whatever the number of
// devices. The registry this replaced scanned and sorted every device (100,000 entries per eviction at
// MaxDevices 100,000), which took 26 % of the CPU at 1M series.
func TestRegistryWorkPerOperation(t *testing.T) {
	n := registryScale()
	evicted := prometheus.NewCounter(prometheus.CounterOpts{Name: "evicted"})
	var logs bytes.Buffer
	r := newRegistry(n, 4, 10, evicted, slog.New(slog.NewTextHandler(&logs, nil)))
	r.now = func() time.Time { return t0 } // every eviction within one log interval, however long the test runs
	res := mapping.Result{Samples: []store.Sample{{Name: "v", V: 1}}}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	worst := int64(0)
	for i := range 2 * n {
		res.Device = "dev" + strconv.Itoa(i)
		before := r.evictWork.Load()
		r.seen(&res, at(i), false)
		worst = max(worst, r.evictWork.Load()-before)
		if i == n+n/4 {
			// A message of an old device, due for eviction soon, makes it recent: it must stay.
			res.Device = "dev" + strconv.Itoa(3*n/4)
			r.seen(&res, at(i).Add(time.Microsecond), false)
		}
	}
	require.LessOrEqual(t, worst, int64(registryShards+1), "steps of one insertion, eviction included")
	require.Equal(t, int64(n*(registryShards+1)), r.evictWork.Load(), "one eviction per new device")
	require.Equal(t, n, r.len())
	st := r.status()
	require.Equal(t, uint64(n), st.Evicted)
	require.NotNil(t, st.LastEviction)
	require.Contains(t, logs.String(), "device registry full", "the policy is logged")
	require.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("device registry full")), "rate-limited: one line per minute")

	has := func(id string) bool {
		sh := r.shard(id)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return sh.m[id] != nil
	}
	// The n most recently seen devices stay: dev(n+1) … dev(2n-1), and dev(3n/4), which spoke again.
	assert.True(t, has("dev"+strconv.Itoa(3*n/4)), "the device that spoke again stays")
	assert.False(t, has("dev"+strconv.Itoa(3*n/4+1)), "its silent neighbour is gone")
	assert.False(t, has("dev1"), "the longest-silent devices are gone")
	assert.False(t, has("dev"+strconv.Itoa(n)), "one more device went for the one that spoke again")
	assert.True(t, has("dev"+strconv.Itoa(n+1)))
	assert.True(t, has("dev"+strconv.Itoa(2*n-1)), "the newest stays")

	// A message of a known device touches no other entry.
	before := r.evictWork.Load()
	for i := range 1000 {
		res.Device = "dev" + strconv.Itoa(2*n-1-i)
		r.seen(&res, at(2*n+i), false)
	}
	require.Equal(t, before, r.evictWork.Load())
}

// TestRegistryListOrder checks the invariants behind O(1) eviction and bucket saves on random operations:
// each shard's list holds exactly its map's entries, linked both ways, each in the bucket of its id.
func TestRegistryListOrder(t *testing.T) {
	r := newRegistry(200, 4, 10, prometheus.NewCounter(prometheus.CounterOpts{Name: "e"}), nil)
	rng := rand.New(rand.NewPCG(1, 2))
	res := mapping.Result{}
	for step := range 20000 {
		res.Device = "d" + strconv.Itoa(rng.IntN(400))
		switch rng.IntN(10) {
		case 0:
			r.admitSeries(&res, []store.Sample{{Name: "x"}}, t0.Add(time.Duration(step)*time.Second))
		case 1:
			var enc bucketEncoder
			r.encodeShard(rng.IntN(registryShards), &enc)
		default:
			r.seen(&res, t0.Add(time.Duration(step)*time.Second), false)
		}
		if step%997 == 0 {
			checkShardLists(t, r)
		}
	}
	checkShardLists(t, r)
}

func checkShardLists(t *testing.T, r *registry) {
	t.Helper()
	total := 0
	for i := range r.shards {
		sh := &r.shards[i]
		n := 0
		var prev *deviceEntry
		for e := sh.head; e != nil; e = e.next {
			require.Same(t, prev, e.prev)
			require.Same(t, e, sh.m[e.id], "listed entry is in the map")
			shard, bucket := deviceLocation(e.id)
			require.Equal(t, i, shard)
			require.Equal(t, bucket, e.bucket)
			prev, n = e, n+1
		}
		require.Same(t, prev, sh.tail)
		require.Equal(t, len(sh.m), n)
		total += n
	}
	require.Equal(t, r.len(), total)
}

func newDeviceStore(t testing.TB, path string, cfg PipelineConfig) (*Pipeline, *DeviceStore, *prometheus.Registry) {
	t.Helper()
	db, err := sqlitedb.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	reg := prometheus.NewRegistry()
	p, err := NewPipeline(cfg, PipelineDeps{Mapper: fakeMapper{}, Appender: &fakeAppender{}, Registerer: reg})
	require.NoError(t, err)
	s, err := NewDeviceStore(DeviceStoreConfig{BatchRows: 7}, DeviceStoreDeps{DB: db, Pipeline: p, Registerer: reg})
	require.NoError(t, err)
	return p, s, reg
}

// TestDeviceStoreRestartKeepsState: first seen, counts, labels and last values (NaN and infinities too) survive
// a restart; devices saved before a change are saved again with it, unchanged ones are not written again.
func TestDeviceStoreRestartKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "citywatch.db")
	ctx := context.Background()
	p, s, reg := newDeviceStore(t, path, PipelineConfig{})
	n, err := s.Restore(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	for i := range 20 {
		msg := Message{Topic: fmt.Sprintf("city/d1/s%d/dev%d", i%3, i), Payload: []byte("a=1;b=NaN;c=-Inf"), Received: t0}
		require.NoError(t, p.Handle(ctx, msg))
		msg.Payload, msg.Received = []byte("a="+strconv.Itoa(i)), t0.Add(time.Minute)
		require.NoError(t, p.Handle(ctx, msg))
	}
	require.NoError(t, p.Handle(ctx, Message{Topic: "city/d1/s0/dev0", Payload: []byte("bad"), Received: t0.Add(2 * time.Minute)}))
	require.NoError(t, s.Flush(ctx))
	saved, _ := metricValue(t, reg, "citywatch_ingest_device_state_saved_total")
	require.Equal(t, 20.0, saved)
	require.NoError(t, s.Flush(ctx))
	saved, _ = metricValue(t, reg, "citywatch_ingest_device_state_saved_total")
	require.Equal(t, 20.0, saved, "nothing changed: nothing written")
	require.NoError(t, p.Handle(ctx, Message{Topic: "city/d1/s1/dev1", Payload: []byte("a=7"), Received: t0.Add(3 * time.Minute)}))
	require.NoError(t, s.Flush(ctx))
	saved, _ = metricValue(t, reg, "citywatch_ingest_device_state_saved_total")
	require.Equal(t, 21.0, saved, "one device changed: one row written")
	want := p.Devices()
	st := p.DeviceRegistry()
	require.True(t, st.Persisted)
	require.NotNil(t, st.LastSave)
	require.Empty(t, st.SaveError)

	p2, s2, _ := newDeviceStore(t, path, PipelineConfig{})
	n, err = s2.Restore(ctx)
	require.NoError(t, err)
	require.Equal(t, 20, n)
	got := p2.Devices()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		assert.Equal(t, w.ID, g.ID)
		assert.Equal(t, w.FirstSeen, g.FirstSeen, w.ID)
		assert.Equal(t, w.LastSeen, g.LastSeen, w.ID)
		assert.Equal(t, w.Messages, g.Messages, w.ID)
		assert.Equal(t, w.Errors, g.Errors, w.ID)
		assert.Equal(t, w.Labels, g.Labels, w.ID)
		require.Len(t, g.LastValues, 3, w.ID)
		assert.Equal(t, w.LastValues["a"], g.LastValues["a"], w.ID)
		assert.True(t, math.IsNaN(g.LastValues["b"]), w.ID)
		assert.True(t, math.IsInf(g.LastValues["c"], -1), w.ID)
	}
	dev0 := got[0]
	require.Equal(t, "d1/s0/dev0", dev0.ID)
	assert.Equal(t, t0, dev0.FirstSeen)
	assert.Equal(t, uint64(3), dev0.Messages)
	assert.Equal(t, uint64(1), dev0.Errors)

	// The restored registry goes on counting and exports device_last_seen_seconds for every device.
	require.NoError(t, p2.Handle(ctx, Message{Topic: "city/d1/s0/dev0", Payload: []byte("a=5"), Received: t0.Add(time.Hour)}))
	for _, d := range p2.Devices() {
		if d.ID == "d1/s0/dev0" {
			assert.Equal(t, uint64(4), d.Messages)
			assert.Equal(t, t0, d.FirstSeen)
		}
	}
	require.Len(t, p2.DeviceSamples(t0.Add(time.Hour)), 20)
}

// savedDeviceIDs returns the ids of the devices in the saved buckets, sorted.
func savedDeviceIDs(t *testing.T, s *DeviceStore) []string {
	t.Helper()
	recs, bad, err := s.readBuckets(context.Background())
	require.NoError(t, err)
	require.Empty(t, bad)
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.id)
	}
	slices.Sort(ids)
	return ids
}

// TestDeviceStoreEvictionAndLimit: the saved table keeps ingest.max_devices devices, longest-silent first out,
// also across a restart with a lower limit; the restored registry is the most recently seen devices.
func TestDeviceStoreEvictionAndLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "citywatch.db")
	ctx := context.Background()
	p, s, reg := newDeviceStore(t, path, PipelineConfig{MaxDevices: 10})
	for i := range 25 {
		require.NoError(t, p.Handle(ctx, Message{Topic: fmt.Sprintf("city/d/s/dev%02d", i), Payload: []byte("a=1"),
			Received: t0.Add(time.Duration(i) * time.Second)}))
		if i%4 == 0 {
			require.NoError(t, s.Flush(ctx))
		}
	}
	require.NoError(t, s.Flush(ctx))
	rows := func() []string { return savedDeviceIDs(t, s) }
	want := make([]string, 0, 10)
	for i := 15; i < 25; i++ {
		want = append(want, fmt.Sprintf("d/s/dev%02d", i))
	}
	require.Equal(t, want, rows())
	ev, _ := metricValue(t, reg, "citywatch_ingest_devices_evicted_total")
	require.Equal(t, 15.0, ev)
	st := p.DeviceRegistry()
	require.Equal(t, RegistryStatus{Devices: 10, MaxDevices: 10, Policy: RegistryPolicy, Evicted: 15,
		LastEviction: st.LastEviction, Persisted: true, LastSave: st.LastSave}, st)

	p2, s2, _ := newDeviceStore(t, path, PipelineConfig{MaxDevices: 4})
	n, err := s2.Restore(ctx)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	var ids []string
	for _, d := range p2.Devices() {
		ids = append(ids, d.ID)
	}
	require.Equal(t, want[6:], ids, "the most recently seen devices are restored")
	require.NoError(t, s2.Flush(ctx))
	require.Equal(t, want[6:], rows(), "the first save prunes the table to the lower limit")
}

// TestDeviceStoreSaveFailureRetries: a failed save is counted, reported in the registry status and written
// with the next save; nothing is lost.
func TestDeviceStoreSaveFailureRetries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "citywatch.db")
	ctx := context.Background()
	p, s, reg := newDeviceStore(t, path, PipelineConfig{})
	for i := range 5 {
		require.NoError(t, p.Handle(ctx, Message{Topic: fmt.Sprintf("city/d/s/dev%d", i), Payload: []byte("a=1"), Received: t0}))
	}
	_, err := s.db.Exec(`ALTER TABLE ingest_device_buckets RENAME TO ingest_device_buckets_away`)
	require.NoError(t, err)
	require.Error(t, s.Flush(ctx))
	errs, _ := metricValue(t, reg, "citywatch_ingest_device_state_save_errors_total")
	require.Equal(t, 1.0, errs)
	require.NotEmpty(t, p.DeviceRegistry().SaveError)

	require.NoError(t, p.Handle(ctx, Message{Topic: "city/d/s/dev0", Payload: []byte("a=2"), Received: t0.Add(time.Second)}))
	_, err = s.db.Exec(`ALTER TABLE ingest_device_buckets_away RENAME TO ingest_device_buckets`)
	require.NoError(t, err)
	require.NoError(t, s.Flush(ctx))
	require.Empty(t, p.DeviceRegistry().SaveError)

	p2, s2, _ := newDeviceStore(t, path, PipelineConfig{})
	n, err := s2.Restore(ctx)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	for _, d := range p2.Devices() {
		if d.ID == "d/s/dev0" {
			assert.Equal(t, uint64(2), d.Messages, "the newest record of a device wins")
			assert.Equal(t, 2.0, d.LastValues["a"])
		}
	}
}

// TestDeviceStoreSkipsDamagedRows: a device that cannot be decoded is skipped and reported; the others load.
func TestDeviceStoreSkipsDamagedRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "citywatch.db")
	ctx := context.Background()
	p, s, _ := newDeviceStore(t, path, PipelineConfig{})
	for i := range 3 {
		require.NoError(t, p.Handle(ctx, Message{Topic: fmt.Sprintf("city/d/s/dev%d", i), Payload: []byte("a=1"), Received: t0}))
	}
	require.NoError(t, s.Flush(ctx))
	// dev1's bucket: its id, then labels whose count is over the limit.
	i, b := deviceLocation("d/s/dev1")
	damaged := appendString([]byte{bucketFormat}, "d/s/dev1")
	damaged = append(damaged, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
	res, err := s.db.Exec(`UPDATE ingest_device_buckets SET devices = ? WHERE bucket = ?`, damaged, i*bucketsPerShard+int(b))
	require.NoError(t, err)
	changed, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(1), changed)
	db, err := sqlitedb.Open(path)
	require.NoError(t, err)
	defer db.Close()
	p2, err := NewPipeline(PipelineConfig{}, PipelineDeps{Mapper: fakeMapper{}, Appender: &fakeAppender{}})
	require.NoError(t, err)
	var logs bytes.Buffer
	s2, err := NewDeviceStore(DeviceStoreConfig{}, DeviceStoreDeps{DB: db, Pipeline: p2,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	n, err := s2.Restore(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Contains(t, logs.String(), "skipped=1")
	require.Contains(t, logs.String(), "d/s/dev1")
	require.Len(t, p2.Devices(), 2)
}

var blobCases = []struct {
	labels []store.Label
	values []lastValue
}{
	{nil, nil},
	{[]store.Label{{Name: "device", Value: "x"}}, []lastValue{{"t", 21.5}}},
	{[]store.Label{{Name: "device", Value: "sensør"}, {Name: "site", Value: "A"}},
		[]lastValue{{"a", math.NaN()}, {"b", math.Inf(1)}, {"", -0.0}}},
}

// FuzzDeviceBlobs: decoding any bytes never panics nor allocates past the limits, and what encode writes
// decodes to itself.
func FuzzDeviceBlobs(f *testing.F) {
	for _, c := range blobCases {
		f.Add(encodeLabels(nil, c.labels), encodeValues(nil, c.values))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{0x01, 0x00})
	f.Fuzz(func(t *testing.T, lb, vb []byte) {
		ls, err := decodeLabels(lb, newBlobStrings())
		if err == nil {
			again, err := decodeLabels(encodeLabels(nil, ls), newBlobStrings())
			if err != nil || len(again) != len(ls) {
				t.Fatalf("labels %v do not round-trip: %v", ls, err)
			}
		}
		vs, err := decodeValues(vb, newBlobStrings(), 64)
		if err == nil {
			if len(vs) > 64 {
				t.Fatalf("%d values over the limit", len(vs))
			}
			again, err := decodeValues(encodeValues(nil, vs), newBlobStrings(), 64)
			if err != nil || len(again) != len(vs) {
				t.Fatalf("values %v do not round-trip: %v", vs, err)
			}
		}
	})
}

func TestDeviceBlobsRoundTrip(t *testing.T) {
	for i, c := range blobCases {
		ls, err := decodeLabels(encodeLabels(nil, c.labels), newBlobStrings())
		require.NoError(t, err, i)
		require.Equal(t, len(c.labels), len(ls), i)
		vs, err := decodeValues(encodeValues(nil, c.values), newBlobStrings(), 64)
		require.NoError(t, err, i)
		require.Len(t, vs, len(c.values))
		for j := range vs {
			require.Equal(t, c.values[j].name, vs[j].name)
			require.Equal(t, math.Float64bits(c.values[j].v), math.Float64bits(vs[j].v))
		}
	}
}

var deviceExportCases = []struct {
	name    string
	devices int
	every   time.Duration
	want    int
}{
	{"empty registry", 0, 5 * time.Second, 1},
	{"1,000 series", 167, 5 * time.Second, 1},
	{"100,000 series", 16_667, 5 * time.Second, 1},
	{"exactly the rate", 25_000, 5 * time.Second, 1},
	{"one over", 25_001, 5 * time.Second, 2},
	{"a million series", 166_667, 5 * time.Second, 7},
	{"capped at a minute", 10_000_000, 5 * time.Second, 12},
	{"interval over a minute", 10_000_000, 2 * time.Minute, 1},
	{"sub-millisecond interval", 10, time.Microsecond, 2000},
}

// TestDeviceExportRateBounded: the device_last_seen_seconds export writes at most maxDeviceExportRate samples
// per second whatever the registry's size (the export of every device each 5 s took 31 % of serve's CPU at a
// million series), and a device's value is refreshed at least once a minute.
func TestDeviceExportRateBounded(t *testing.T) {
	for _, c := range deviceExportCases {
		got := deviceExportTicks(c.devices, c.every)
		if got != c.want {
			t.Errorf("%s: deviceExportTicks(%d, %s) = %d, want %d", c.name, c.devices, c.every, got, c.want)
		}
		period := time.Duration(got) * c.every
		if perSec := float64(c.devices) / period.Seconds(); perSec > maxDeviceExportRate && period < maxDeviceExportEvery {
			t.Errorf("%s: %.0f samples/s exported, want ≤ %d", c.name, perSec, maxDeviceExportRate)
		}
		if period > max(maxDeviceExportEvery, c.every) {
			t.Errorf("%s: exported every %s, want at least every %s", c.name, period, maxDeviceExportEvery)
		}
	}
	r := newRegistry(100, 4, 10, prometheus.NewCounter(prometheus.CounterOpts{Name: "e"}), nil)
	require.Equal(t, 1, r.exportTicks(5*time.Second))
}

// TestDeviceExportHint: a device's device_last_seen_seconds samples carry one series hint from export to
// export, so the store finds the series without hashing the labels and looking up their group (at a million
// series an export appends 166,667 samples); when the device's labels change its samples get a new hint, as
// the store.SeriesHint contract wants (one labels slice per hint).
func TestDeviceExportHint(t *testing.T) {
	r := newRegistry(100, 4, 10, prometheus.NewCounter(prometheus.CounterOpts{Name: "e"}), nil)
	res := mapping.Result{Device: "d1/siteA/s1", DeviceLabels: []store.Label{{Name: "device", Value: "s1"}, {Name: "site", Value: "siteA"}},
		Samples: []store.Sample{{Name: "v", V: 1}}}
	r.seen(&res, t0, false)
	first, second := r.samples(t0), r.samples(t0.Add(time.Second))
	require.Len(t, first, 1)
	require.NotNil(t, first[0].Hint, "the export's samples carry a hint")
	require.Same(t, first[0].Hint, second[0].Hint, "one hint from export to export")
	require.Same(t, &first[0].Labels[0], &second[0].Labels[0], "one labels slice from export to export")

	res.DeviceLabels = []store.Label{{Name: "device", Value: "s1"}, {Name: "site", Value: "siteB"}}
	r.seen(&res, t0.Add(2*time.Second), false)
	moved := r.samples(t0.Add(3 * time.Second))
	require.Equal(t, "siteB", moved[0].Labels[1].Value)
	require.NotSame(t, first[0].Hint, moved[0].Hint, "new labels, new hint")
}
