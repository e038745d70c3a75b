package media

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras"
	"citywatch/internal/testenv"
)

func TestSnapshotJPEGCachedAndShared(t *testing.T) {
	for _, tc := range []struct {
		file, codec string
	}{{"clip.h264", cameras.CodecH264}, {"clip.h265", cameras.CodecH265}} {
		t.Run(tc.codec, func(t *testing.T) {
			ff := testenv.LookPath(t, "ffmpeg")
			m, reg := newTestMedia(t, func(c *Config) { c.FFmpegPath = ff })
			ctx := context.Background()

			_, _, err := m.Snapshot(ctx, "nope")
			require.ErrorIs(t, err, ErrCameraNotFound)
			_, _, err = m.Snapshot(ctx, "cam1")
			require.ErrorIs(t, err, ErrNoKeyframe)

			clip := loadClip(t, tc.file, tc.codec)
			p := newPlayer(clip)
			p.feed(m, "cam1", clipFPS+5) // two keyframes: the latest is frame 12
			wantAt := epoch.Add(time.Second)

			// Concurrent callers share one ffmpeg run.
			const callers = 4
			var wg sync.WaitGroup
			results := make([][]byte, callers)
			errs := make([]error, callers)
			for i := range callers {
				wg.Go(func() {
					var at time.Time
					results[i], at, errs[i] = m.Snapshot(ctx, "cam1")
					if errs[i] == nil && !at.Equal(wantAt) {
						t.Errorf("caller %d: at = %v, want %v", i, at, wantAt)
					}
				})
			}
			wg.Wait()
			for i := range callers {
				require.NoError(t, errs[i], "caller %d", i)
				require.Equal(t, results[0], results[i])
			}
			img, err := jpeg.Decode(bytes.NewReader(results[0]))
			require.NoError(t, err)
			assert.Equal(t, 640, img.Bounds().Dx())
			assert.Equal(t, 360, img.Bounds().Dy())
			assert.Equal(t, uint64(1), histCount(t, reg, "citywatch_media_snapshot_duration_seconds"),
				"one ffmpeg run for concurrent callers")

			// Same keyframe: from the cache.
			again, at, err := m.Snapshot(ctx, "cam1")
			require.NoError(t, err)
			assert.Equal(t, results[0], again)
			assert.Equal(t, wantAt, at)
			assert.Equal(t, 1.0, testutil.ToFloat64(m.met.snapshots.WithLabelValues(snapCached)))
			assert.Equal(t, uint64(1), histCount(t, reg, "citywatch_media_snapshot_duration_seconds"))

			// A new keyframe is decoded again.
			p.feed(m, "cam1", clipFPS)
			_, at, err = m.Snapshot(ctx, "cam1")
			require.NoError(t, err)
			assert.Equal(t, epoch.Add(2*time.Second), at)
			assert.Equal(t, uint64(2), histCount(t, reg, "citywatch_media_snapshot_duration_seconds"))

			// A new session has no picture until its first keyframe.
			p.session++
			p.i = 1 // a P-frame
			p.feed(m, "cam1", 1)
			_, _, err = m.Snapshot(ctx, "cam1")
			require.ErrorIs(t, err, ErrNoKeyframe)
		})
	}
}

func histCount(t *testing.T, reg interface {
	Gather() ([]*dto.MetricFamily, error)
}, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func TestSnapshotFFmpegUnavailable(t *testing.T) {
	m, _ := newTestMedia(t, func(c *Config) { c.FFmpegPath = "/nonexistent/ffmpeg" })
	p := newPlayer(loadClip(t, "clip.h264", cameras.CodecH264))
	p.feed(m, "cam1", 1)
	_, _, err := m.Snapshot(context.Background(), "cam1")
	require.ErrorIs(t, err, ErrFFmpegUnavailable)
	assert.Contains(t, err.Error(), "/nonexistent/ffmpeg")
}

func TestSnapshotDecodeErrorAndContext(t *testing.T) {
	ff := testenv.LookPath(t, "ffmpeg")
	m, _ := newTestMedia(t, func(c *Config) { c.FFmpegPath = ff })
	garbage := cameras.AccessUnit{Codec: cameras.CodecH264, NALUs: [][]byte{{0x65, 1, 2, 3}}, Keyframe: true,
		Session: 1, SPS: []byte{0x67, 0xff}, PPS: []byte{0x68, 0xff}, Time: epoch}
	m.OnAccessUnit("cam1", garbage)
	_, _, err := m.Snapshot(context.Background(), "cam1")
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNoKeyframe))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = m.Snapshot(ctx, "cam1")
	require.ErrorIs(t, err, context.Canceled)
}
