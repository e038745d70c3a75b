package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"strings"
	"time"

	"citywatch/cameras"
	"citywatch/cameras/annexb"
)

// maxJPEGBytes bounds what is read from ffmpeg for one snapshot.
const maxJPEGBytes = 32 << 20

// snapKey identifies a keyframe.
type snapKey struct {
	session uint64
	pts     int64
}

type snapResult struct {
	key  snapKey
	jpeg []byte
	at   time.Time
}

// snapFlight is one ffmpeg run that concurrent callers share.
type snapFlight struct {
	key  snapKey
	done chan struct{}
	res  *snapResult
	err  error
}

// Snapshot returns the camera's latest keyframe as a JPEG and the time it arrived. A keyframe is decoded
// once: later calls are served from a cache, and concurrent calls share one ffmpeg run, which is bounded
// by SnapshotTimeout. An M-JPEG camera's latest frame already is a JPEG: it is returned as is, without
// ffmpeg. Errors: ErrCameraNotFound, ErrNoKeyframe, ErrFFmpegUnavailable (wrapped with the reason), ctx's
// error, or a decode failure. The returned slice must not be modified.
func (m *Media) Snapshot(ctx context.Context, cameraID string) ([]byte, time.Time, error) {
	c := m.camera(cameraID)
	if c == nil {
		return nil, time.Time{}, ErrCameraNotFound
	}
	if img, at, ok, err := m.jpegSnapshot(c); ok {
		return img, at, err
	}
	if m.ffReason != "" {
		m.met.snapshots.WithLabelValues(snapUnavailable).Inc()
		return nil, time.Time{}, fmt.Errorf("%w: %s", ErrFFmpegUnavailable, m.ffReason)
	}
	c.mu.Lock()
	key := c.lastKey
	if key == nil {
		c.mu.Unlock()
		m.met.snapshots.WithLabelValues(snapNoKeyframe).Inc()
		return nil, time.Time{}, ErrNoKeyframe
	}
	k := snapKey{session: key.Session, pts: key.PTS}
	if s := c.snap; s != nil && s.key == k {
		c.mu.Unlock()
		m.met.snapshots.WithLabelValues(snapCached).Inc()
		return s.jpeg, s.at, nil
	}
	f := c.flight
	if f == nil || f.key != k {
		if !m.track() {
			c.mu.Unlock()
			return nil, time.Time{}, ErrClosed
		}
		f = &snapFlight{key: k, done: make(chan struct{})}
		c.flight = f
		go m.decodeSnapshot(c, f, *key)
	}
	c.mu.Unlock()
	select {
	case <-ctx.Done():
		m.met.snapshots.WithLabelValues(snapCanceled).Inc()
		return nil, time.Time{}, ctx.Err()
	case <-f.done:
	}
	if f.err != nil {
		result := snapError
		if errors.Is(f.err, ErrFFmpegUnavailable) {
			result = snapUnavailable
		}
		m.met.snapshots.WithLabelValues(result).Inc()
		return nil, time.Time{}, f.err
	}
	m.met.snapshots.WithLabelValues(snapOK).Inc()
	return f.res.jpeg, f.res.at, nil
}

// jpegSnapshot serves the latest frame of an M-JPEG camera, which needs no decoding (only painting when the
// camera has a privacy mask, done outside the camera's lock); ok is false for other codecs and before the
// first frame.
func (m *Media) jpegSnapshot(c *camera) ([]byte, time.Time, bool, error) {
	c.mu.Lock()
	key := c.lastKey
	if key == nil || key.Codec != cameras.CodecMJPEG || len(key.NALUs) != 1 {
		c.mu.Unlock()
		return nil, time.Time{}, false, nil
	}
	k := snapKey{session: key.Session, pts: key.PTS}
	if s := c.snap; s != nil && s.key == k && s.at.Equal(key.Time) {
		c.mu.Unlock()
		m.met.snapshots.WithLabelValues(snapCached).Inc()
		return s.jpeg, s.at, true, nil
	}
	raw, at := key.NALUs[0], key.Time
	c.mu.Unlock()
	img, err := m.burnSnapshot(c, raw)
	if err != nil {
		m.met.snapshots.WithLabelValues(snapError).Inc()
		return nil, time.Time{}, true, err
	}
	c.mu.Lock()
	c.snap = &snapResult{key: k, jpeg: img, at: at}
	c.mu.Unlock()
	m.met.snapshots.WithLabelValues(snapOK).Inc()
	return img, at, true, nil
}

// decodeSnapshot runs ffmpeg for one keyframe, caches the result and releases the flight's waiters. It
// runs detached from the callers' contexts so one impatient caller does not fail the others.
func (m *Media) decodeSnapshot(c *camera, f *snapFlight, key cameras.AccessUnit) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.SnapshotTimeout)
	defer cancel()
	start := time.Now()
	jpeg, err := runFFmpegSnapshot(ctx, m.ffmpeg, key)
	m.met.snapDuration.Observe(time.Since(start).Seconds())
	if err == nil {
		jpeg, err = m.burnSnapshot(c, jpeg) // before caching: the cache never holds the hidden area
	}
	c.mu.Lock()
	if err == nil {
		f.res = &snapResult{key: f.key, jpeg: jpeg, at: key.Time}
		if c.session == f.key.session { // don't cache a picture of an ended session
			c.snap = f.res
		}
	} else {
		f.err = err
		m.log.Warn("snapshot failed", "camera", c.cfg.ID, "err", err)
	}
	if c.flight == f {
		c.flight = nil
	}
	c.mu.Unlock()
	close(f.done)
}

// snapshotArgs is ffmpeg's argument list (no shell): Annex-B on stdin, one JPEG on stdout.
func snapshotArgs(format string) []string {
	return []string{
		"-hide_banner", "-loglevel", "error", "-nostats",
		"-threads", "1", "-probesize", "32", "-analyzeduration", "0",
		"-f", format, "-i", "pipe:0",
		"-an", "-sn", "-dn",
		"-frames:v", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
	}
}

// runFFmpegSnapshot decodes one keyframe (with its parameter sets) to JPEG.
func runFFmpegSnapshot(ctx context.Context, path string, au cameras.AccessUnit) ([]byte, error) {
	format := "h264"
	switch au.Codec {
	case cameras.CodecH264:
	case cameras.CodecH265:
		format = "hevc"
	default:
		return nil, fmt.Errorf("snapshot: unsupported codec %q", au.Codec)
	}
	cmd := exec.CommandContext(ctx, path, snapshotArgs(format)...)
	cmd.WaitDelay = time.Second
	cmd.Stdin = bytes.NewReader(annexb.Append(nil, au, au.Codec == cameras.CodecH265))
	var stderr tailBuffer
	stderr.max = 512
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot) || isNotExist(err) {
			return nil, fmt.Errorf("%w: %v", ErrFFmpegUnavailable, err)
		}
		return nil, fmt.Errorf("snapshot: start ffmpeg: %w", err)
	}
	out, rerr := io.ReadAll(io.LimitReader(stdout, maxJPEGBytes+1))
	werr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("snapshot: ffmpeg: %w", ctx.Err())
	case rerr != nil:
		return nil, fmt.Errorf("snapshot: read ffmpeg output: %w", rerr)
	case werr != nil:
		return nil, fmt.Errorf("snapshot: ffmpeg: %w: %s", werr, stderr.String())
	case len(out) > maxJPEGBytes:
		return nil, fmt.Errorf("snapshot: ffmpeg output larger than %d bytes", maxJPEGBytes)
	case len(out) < 4 || out[0] != 0xff || out[1] != 0xd8:
		return nil, fmt.Errorf("snapshot: ffmpeg produced no JPEG: %s", stderr.String())
	}
	return out, nil
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}

// tailBuffer keeps the last bytes written to it (ffmpeg's stderr), for the failure reason.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := strings.TrimSpace(string(t.b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
