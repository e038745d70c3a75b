package ingest

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// savedRows counts the rows of the registry's tables in the metadata database.
func savedRows(t *testing.T, s *DeviceStore) int {
	t.Helper()
	rows, err := s.db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'ingest_device%'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	total := 0
	for _, name := range tables {
		var n int
		require.NoError(t, s.db.QueryRow(`SELECT count(*) FROM `+name).Scan(&n))
		total += n
	}
	return total
}

// TestDeviceStoreSaveWorkBounded: a save writes one row per bucket that changed, never one per device: after
// every one of 20,000 devices changed it writes at most deviceBuckets rows (the table it replaced took one
// SQLite upsert per device, 23–40 µs of CPU each, and at a million series every device changes every save),
// after one device changed it writes one row, and after nothing changed none.
func TestDeviceStoreSaveWorkBounded(t *testing.T) {
	const devices = 20_000
	ctx := context.Background()
	p, s, _ := newDeviceStore(t, filepath.Join(t.TempDir(), "citywatch.db"), PipelineConfig{MaxDevices: devices})
	res := benchDevices(devices)
	for i := range res {
		p.devices.seen(&res[i], t0.Add(time.Duration(i)), false)
	}
	require.NoError(t, s.Flush(ctx))
	require.LessOrEqual(t, savedRows(t, s), deviceBuckets, "rows in the table")
	require.LessOrEqual(t, s.rowsWritten, deviceBuckets, "rows written by the first save")

	written := s.rowsWritten
	require.NoError(t, s.Flush(ctx))
	require.Equal(t, written, s.rowsWritten, "nothing changed: nothing written")

	p.devices.seen(&res[42], t0.Add(time.Hour), false)
	require.NoError(t, s.Flush(ctx))
	require.Equal(t, written+1, s.rowsWritten, "one device changed: its bucket written")
	require.Len(t, savedDeviceIDs(t, s), devices)
}

// bucketCases are buckets of devices as a save encodes them (appendDevice), from empty to damaged values.
var bucketCases = []struct {
	name    string
	devices []deviceEntry
}{
	{"empty bucket", nil},
	{"one device", []deviceEntry{{id: "d1/siteA/sensor42", labels: []store.Label{{Name: "device", Value: "sensor42"},
		{Name: "district", Value: "d1"}, {Name: "site", Value: "siteA"}}, first: 1, last: 2, messages: 3,
		values: []lastValue{{"temperature", 21.5}, {"humidity", 40}}}}},
	{"odd values", []deviceEntry{
		{id: "x", labels: []store.Label{{Name: "device", Value: "x"}}, first: -5, last: math.MaxInt64,
			messages: math.MaxUint64, errors: 7, values: []lastValue{{"a", math.NaN()}, {"b", math.Inf(-1)}, {"", -0.0}}},
		{id: "sensør/ø", labels: nil, values: nil}}},
}

func encodeBucket(devices []deviceEntry) []byte {
	b := []byte{bucketFormat}
	for i := range devices {
		b = appendDevice(b, &devices[i])
	}
	return b
}

// TestDeviceBucketRoundTrip: what a save encodes, a restore decodes to the same devices.
func TestDeviceBucketRoundTrip(t *testing.T) {
	for _, c := range bucketCases {
		recs, err := decodeBucket(nil, encodeBucket(c.devices), newBlobStrings(), 64)
		require.NoError(t, err, c.name)
		require.Len(t, recs, len(c.devices), c.name)
		for i, e := range c.devices {
			r := recs[i]
			require.Equal(t, e.id, r.id, c.name)
			require.Equal(t, len(e.labels), len(r.labels), c.name)
			require.Equal(t, []int64{e.first, e.last}, []int64{r.first, r.last}, c.name)
			require.Equal(t, []uint64{e.messages, e.errors}, []uint64{r.messages, r.errors}, c.name)
			require.Len(t, r.values, len(e.values), c.name)
			for j := range r.values {
				require.Equal(t, e.values[j].name, r.values[j].name, c.name)
				require.Equal(t, math.Float64bits(e.values[j].v), math.Float64bits(r.values[j].v), c.name)
			}
		}
	}
}

// FuzzDeviceBucket: decoding any bytes never panics nor keeps more than maxMetrics values a device, and the
// devices it decodes encode and decode to themselves.
func FuzzDeviceBucket(f *testing.F) {
	for _, c := range bucketCases {
		f.Add(encodeBucket(c.devices))
	}
	f.Add([]byte{bucketFormat, 0x01, 'x', 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, blob []byte) {
		recs, _ := decodeBucket(nil, blob, newBlobStrings(), 8)
		devices := make([]deviceEntry, len(recs))
		for i, r := range recs {
			if len(r.values) > 8 {
				t.Fatalf("%d values over the limit", len(r.values))
			}
			devices[i] = deviceEntry{id: r.id, labels: r.labels, first: r.first, last: r.last, messages: r.messages,
				errors: r.errors, values: r.values}
		}
		again, err := decodeBucket(nil, encodeBucket(devices), newBlobStrings(), 8)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("%d devices do not round-trip: %v", len(recs), err)
		}
	})
}
