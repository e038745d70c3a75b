package diskqueue

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func open(t *testing.T, cfg Config) *Queue {
	t.Helper()
	q, err := Open(cfg, Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func appendN(t *testing.T, q *Queue, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		require.NoError(t, q.Append(context.Background(), 1, fmt.Appendf(nil, "rec-%06d", i)))
	}
}

// readAll reads and acknowledges everything currently in the queue and returns the records.
func readAll(t *testing.T, q *Queue, maxItems int) []string {
	t.Helper()
	var out []string
	for q.Stats().Items > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := q.Read(ctx, maxItems, 1<<20, 0)
		cancel()
		require.NoError(t, err)
		for _, r := range b.Records {
			out = append(out, string(r))
		}
		require.NoError(t, q.Ack(b))
	}
	return out
}

func want(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("rec-%06d", i))
	}
	return out
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	require.NoError(t, err)
	return m
}

func TestRoundTrip(t *testing.T) {
	q := open(t, Config{Dir: t.TempDir()})
	appendN(t, q, 0, 100)
	st := q.Stats()
	require.EqualValues(t, 100, st.Items)
	require.False(t, st.Oldest.IsZero())
	require.Equal(t, want(0, 100), readAll(t, q, 30))
	st = q.Stats()
	require.Zero(t, st.Items)
	require.Zero(t, st.Bytes)
	require.True(t, st.Oldest.IsZero())
}

func TestReadBatchLimits(t *testing.T) {
	q := open(t, Config{Dir: t.TempDir()})
	for i := 0; i < 5; i++ {
		require.NoError(t, q.Append(context.Background(), 3, []byte("abc")))
	}
	b, err := q.Read(context.Background(), 7, 1<<20, 0)
	require.NoError(t, err)
	require.Equal(t, 6, b.Items, "two records of 3 fit in 7 items")
	require.True(t, b.Backlog)
	require.NoError(t, q.Ack(b))
	b, err = q.Read(context.Background(), 100, 5, 0)
	require.NoError(t, err)
	require.Equal(t, 3, b.Items, "a record is returned even when alone above maxBytes")
}

func TestReadLingersForFullBatch(t *testing.T) {
	q := open(t, Config{Dir: t.TempDir()})
	appendN(t, q, 0, 1)
	got := make(chan *Batch, 1)
	go func() {
		b, err := q.Read(context.Background(), 3, 1<<20, time.Hour)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	appendN(t, q, 1, 2)
	select {
	case b := <-got:
		require.Equal(t, 3, b.Items)
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return once the batch was full")
	}
}

func TestTornTailTruncated(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir})
	appendN(t, q, 0, 3)
	require.NoError(t, q.Close())

	// A crash in the middle of write(): a frame header promising more bytes than were written.
	segs := segFiles(t, dir)
	require.Len(t, segs, 1)
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	torn := binary.LittleEndian.AppendUint32(nil, 100)
	torn = append(torn, 1, 2, 3, 4, 5, 6, 7)
	_, err = f.Write(torn)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	q = open(t, Config{Dir: dir})
	st := q.Stats()
	require.EqualValues(t, 1, st.Repairs)
	require.EqualValues(t, len(torn), st.CorruptBytes)
	require.EqualValues(t, 3, st.Items)
	appendN(t, q, 3, 2)
	require.Equal(t, want(0, 5), readAll(t, q, 100))
}

func TestChecksumCorruptionDetectedAtRecovery(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir})
	appendN(t, q, 0, 5)
	require.NoError(t, q.Close())

	seg := segFiles(t, dir)[0]
	recLen := int64(frameHeader + payloadHeader + len("rec-000000"))
	flipByte(t, seg, 2*recLen+frameHeader+payloadHeader+1) // in record 2's data

	q = open(t, Config{Dir: dir})
	st := q.Stats()
	require.EqualValues(t, 1, st.Repairs)
	require.EqualValues(t, 3*recLen, st.CorruptBytes)
	require.Equal(t, want(0, 2), readAll(t, q, 100))
}

func TestChecksumCorruptionDetectedWhileReading(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir})
	appendN(t, q, 0, 5)
	recLen := int64(frameHeader + payloadHeader + len("rec-000000"))
	flipByte(t, segFiles(t, dir)[0], 3*recLen+frameHeader+payloadHeader+2)

	require.Equal(t, want(0, 3), readAll(t, q, 100))
	st := q.Stats()
	require.EqualValues(t, 2, st.CorruptItems)
	require.Zero(t, st.Items)
	// The queue goes on working after skipping the damage.
	appendN(t, q, 5, 2)
	require.Equal(t, want(5, 2), readAll(t, q, 100))
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x40
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

func TestSegmentRotationAndDeletionAfterAck(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir, SegmentBytes: 4096, MaxBytes: 1 << 20})
	big := make([]byte, 1000)
	for i := 0; i < 20; i++ {
		require.NoError(t, q.Append(context.Background(), 1, big))
	}
	require.GreaterOrEqual(t, len(segFiles(t, dir)), 5)
	require.Len(t, readAll(t, q, 7), 20)
	require.Len(t, segFiles(t, dir), 1, "acknowledged segments are deleted, the active one stays")
	st := q.Stats()
	require.Zero(t, st.Bytes)
	require.Equal(t, 1, st.Segments)
}

func TestRestartResumesAtAckedOffset(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, SegmentBytes: 4096, MaxBytes: 1 << 20}
	q := open(t, cfg)
	appendN(t, q, 0, 300) // several segments
	for read := 0; read < 170; {
		b, err := q.Read(context.Background(), 10, 1<<20, 0)
		require.NoError(t, err)
		require.NoError(t, q.Ack(b))
		read += b.Items
	}
	// An unacknowledged batch is delivered again after the restart.
	_, err := q.Read(context.Background(), 10, 1<<20, 0)
	require.NoError(t, err)
	require.NoError(t, q.Close())

	q = open(t, cfg)
	require.EqualValues(t, 130, q.Stats().Items)
	require.Equal(t, want(170, 130), readAll(t, q, 64))
}

func TestAckFileCorruptReplaysEverything(t *testing.T) {
	dir := t.TempDir()
	q := open(t, Config{Dir: dir})
	appendN(t, q, 0, 4)
	b, err := q.Read(context.Background(), 2, 1<<20, 0)
	require.NoError(t, err)
	require.NoError(t, q.Ack(b))
	require.NoError(t, q.Close())
	flipByte(t, filepath.Join(dir, ackFileName), 0)
	q = open(t, Config{Dir: dir})
	require.Equal(t, want(0, 4), readAll(t, q, 100))
}

func TestDropOldestCountsEveryDroppedItem(t *testing.T) {
	q := open(t, Config{Dir: t.TempDir(), SegmentBytes: 4096, MaxBytes: 3 * 4096})
	// An unacknowledged batch in flight must not be counted as dropped: the consumer still delivers it.
	appendN(t, q, 0, 10)
	inflight, err := q.Read(context.Background(), 10, 1<<20, 0)
	require.NoError(t, err)
	const total = 2000
	appendN(t, q, 10, total-10)
	st := q.Stats()
	require.Positive(t, st.DroppedItems)
	require.LessOrEqual(t, st.DiskBytes, int64(3*4096))
	require.NoError(t, q.Ack(inflight))
	got := readAll(t, q, 100)
	st = q.Stats()
	require.EqualValues(t, total, int64(inflight.Items)+int64(len(got))+st.DroppedItems)
	// What is left is the newest data, in order.
	require.Equal(t, want(total-len(got), len(got)), got)
}

func TestBlockPolicyWaitsForSpace(t *testing.T) {
	q := open(t, Config{Dir: t.TempDir(), SegmentBytes: 4096, MaxBytes: 2 * 4096, Policy: Block})
	data := make([]byte, 1000)
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := q.Append(ctx, 1, data)
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			break
		}
		n++
		require.Less(t, n, 100)
	}
	done := make(chan error, 1)
	go func() { done <- q.Append(context.Background(), 1, data) }()
	b, err := q.Read(context.Background(), 4, 1<<20, 0)
	require.NoError(t, err)
	require.NoError(t, q.Ack(b))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Append not released by Ack")
	}
	require.Zero(t, q.Stats().DroppedItems)
	require.Len(t, readAll(t, q, 100), n+1-b.Items)
}

func TestSecondOpenOfSameDirFails(t *testing.T) {
	dir := t.TempDir()
	open(t, Config{Dir: dir})
	_, err := Open(Config{Dir: dir}, Deps{})
	require.Error(t, err)
}

func TestClosedQueue(t *testing.T) {
	q := open(t, Config{Dir: t.TempDir()})
	done := make(chan error, 1)
	go func() {
		_, err := q.Read(context.Background(), 1, 1, 0)
		done <- err
	}()
	require.NoError(t, q.Close())
	require.NoError(t, q.Close())
	require.ErrorIs(t, <-done, ErrClosed)
	require.ErrorIs(t, q.Append(context.Background(), 1, []byte("x")), ErrClosed)
}

var badConfigs = []Config{
	{},
	{Dir: "x", SegmentBytes: 100},
	{Dir: "x", SegmentBytes: 1 << 20, MaxBytes: 1 << 20},
	{Dir: "x", Policy: "drop_newest"},
}

func TestBadConfig(t *testing.T) {
	for _, c := range badConfigs {
		_, err := Open(c, Deps{})
		require.Error(t, err, "%+v", c)
	}
}

// recoverySeeds are segment files recovery must survive: valid records, torn and corrupt ones.
func recoverySeeds() [][]byte {
	rec := func(count uint32, data string) []byte {
		p := binary.LittleEndian.AppendUint64(nil, uint64(time.Unix(1700000000, 0).UnixNano()))
		p = binary.LittleEndian.AppendUint32(p, count)
		p = append(p, data...)
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, crc32Castagnoli(p))
		return append(b, p...)
	}
	good := append(rec(1, "a"), rec(3, "bcd")...)
	return [][]byte{
		nil,
		good,
		good[:len(good)-2],
		append(append([]byte{}, good...), 0, 0, 0, 0, 0, 0, 0, 0),
		append(rec(0, "zero count"), good...),
		{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		{12, 0, 0, 0},
	}
}

func FuzzQueueRecovery(f *testing.F) {
	for _, s := range recoverySeeds() {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, seg []byte, asAck bool) {
		dir := t.TempDir()
		name := segPath(dir, 0)
		if asAck {
			name = filepath.Join(dir, ackFileName)
		}
		if err := os.WriteFile(name, seg, 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := Open(Config{Dir: dir, SegmentBytes: 4096, MaxBytes: 8192}, Deps{})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		before := q.Stats().Items
		var got int64
		for q.Stats().Items > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b, err := q.Read(ctx, 1000, 1<<20, 0)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			got += int64(b.Items)
			if err := q.Ack(b); err != nil {
				t.Fatal(err)
			}
		}
		if got != before {
			t.Fatalf("read %d items, recovery counted %d", got, before)
		}
		if err := q.Append(context.Background(), 1, []byte("after")); err != nil {
			t.Fatal(err)
		}
		b, err := q.Read(context.Background(), 10, 1<<20, 0)
		if err != nil || len(b.Records) != 1 || string(b.Records[0]) != "after" {
			t.Fatalf("append after recovery: %v %+v", err, b)
		}
	})
}

func TestRecoverySeeds(t *testing.T) {
	for i, s := range recoverySeeds() {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(segPath(dir, 0), s, 0o600))
		q, err := Open(Config{Dir: dir}, Deps{})
		require.NoError(t, err, "seed %d", i)
		require.NoError(t, q.Close())
	}
}

func crc32Castagnoli(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }
