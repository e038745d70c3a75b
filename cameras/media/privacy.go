package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/cameras"
	"citywatch/cameras/privacymask"
	"citywatch/config"
)

// Privacy masks (CameraConfig.PrivacyMask) are burned into everything Media hands out as pictures: a snapshot
// is painted before it is cached (so even the cache never holds the hidden area), and a clip is transcoded
// with the mask laid over every frame before it is published (the unmasked recording is a temporary file
// that is never listed and is removed). A clip or snapshot that cannot be masked is not served: masking
// fails closed.
//
// Live view is raw video, so ServeLive refuses a masked camera unless the request's context was marked by
// AllowUnmasked (the HTTP layer does so for the video_unmasked permission). Transcoding live video with the
// mask would cost a decoder and an encoder per camera for as long as anyone watches (see the privacy rows of
// make bench for what masking one clip costs); the staff who need a masked room's live picture are few and
// named, so a permission is the cheaper and auditable choice.

// ErrClipMasking means the clip was recorded before its camera's current privacy mask and is being masked
// now (at start); it is served once that is done. It wraps ErrClipInProgress: the clip is not ready yet.
var ErrClipMasking = fmt.Errorf("%w: the privacy mask is being applied", ErrClipInProgress)

// ErrLiveMasked refuses the live view of a privacy-masked camera to a request not marked by AllowUnmasked.
var ErrLiveMasked = errors.New("live view of this camera is refused: it has a privacy mask, and its live " +
	"video is only shown to users with the video_unmasked permission; its snapshots and clips are masked")

// closeMaskedReason is the WebSocket close reason (at most 123 bytes) of a refused masked live view.
const closeMaskedReason = "privacy mask: live view needs the video_unmasked permission"

type unmaskedKey struct{}

// AllowUnmasked marks a request's context as allowed to watch privacy-masked cameras live (raw video). The
// HTTP layer sets it for principals with the video_unmasked permission; without it ServeLive refuses a
// masked camera, so a caller that forgets to check fails closed.
func AllowUnmasked(ctx context.Context) context.Context {
	return context.WithValue(ctx, unmaskedKey{}, true)
}

// UnmaskedAllowed reports whether AllowUnmasked marked ctx.
func UnmaskedAllowed(ctx context.Context) bool {
	ok, _ := ctx.Value(unmaskedKey{}).(bool)
	return ok
}

// Kinds for the privacy metrics' "kind" label.
const (
	maskSnapshot = "snapshot"
	maskClip     = "clip"
)

// clipPurged is the citywatch_media_clips_total result of clips deleted by PurgeClips (retention by purpose).
const clipPurged = "purged"

// clipBurnTimeout bounds the transcoding of one masked clip (at most MaxClipSeconds of video). It is not tied
// to Close: a clip being finished at shutdown is masked and kept, not lost.
const clipBurnTimeout = 2 * time.Minute

// fallbackMaskSize is the size of the overlay drawn for a clip whose picture size is unknown; ffmpeg scales
// it to the video (the mask is in relative coordinates).
const fallbackMaskW, fallbackMaskH = 1920, 1080

type privacyMetrics struct {
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
}

func newPrivacyMetrics(reg prometheus.Registerer) *privacyMetrics {
	f := promauto.With(reg)
	p := &privacyMetrics{
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "citywatch_media_privacy_mask_duration_seconds",
			Help:    "Time to burn a privacy mask into a snapshot (JPEG repaint) or a clip (ffmpeg transcode).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_media_privacy_mask_failures_total",
			Help: "Snapshots and clips withheld because their privacy mask could not be burned in.",
		}, []string{"kind"}),
	}
	for _, k := range []string{maskSnapshot, maskClip} {
		p.duration.WithLabelValues(k)
		p.failures.WithLabelValues(k)
	}
	return p
}

// Masked reports whether the camera has a privacy mask. Its live view is raw video: callers must refuse it
// to viewers not allowed to see behind the mask. An unknown camera reports true (fail closed).
func (m *Media) Masked(cameraID string) bool {
	c := m.camera(cameraID)
	return c == nil || !c.cfg.PrivacyMask.Empty()
}

// burnSnapshot paints the camera's mask into a JPEG; it returns img as is for an unmasked camera.
func (m *Media) burnSnapshot(c *camera, img []byte) ([]byte, error) {
	if c.cfg.PrivacyMask.Empty() {
		return img, nil
	}
	start := time.Now()
	out, err := c.cfg.PrivacyMask.JPEG(img)
	m.priv.duration.WithLabelValues(maskSnapshot).Observe(time.Since(start).Seconds())
	if err != nil {
		m.priv.failures.WithLabelValues(maskSnapshot).Inc()
		return nil, fmt.Errorf("snapshot: privacy mask: %w", err)
	}
	return out, nil
}

// clipBurner returns the function that masks a finished recording, or nil for an unmasked camera.
func (m *Media) clipBurner(c *camera) func(src string, w, h int) (string, error) {
	if c.cfg.PrivacyMask.Empty() {
		return nil
	}
	return func(src string, w, h int) (string, error) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), clipBurnTimeout)
		defer cancel()
		out, err := m.burnClip(ctx, c.cfg.PrivacyMask, src, strings.TrimSuffix(src, ".mp4.tmp"), w, h)
		m.priv.duration.WithLabelValues(maskClip).Observe(time.Since(start).Seconds())
		if err != nil {
			m.priv.failures.WithLabelValues(maskClip).Inc()
		}
		return out, err
	}
}

// burnClip transcodes the MP4 src to H.264 with mask laid over every frame, into the temporary file
// tmpBase+".masked.tmp" whose path it returns (tmpBase is a dot-file path, so a crash leaves only files that
// the next start removes). src is left for the caller to remove.
func (m *Media) burnClip(ctx context.Context, mask privacymask.Mask, src, tmpBase string, w, h int) (string, error) {
	if m.ffReason != "" {
		return "", fmt.Errorf("privacy mask: %w: %s", ErrFFmpegUnavailable, m.ffReason)
	}
	if w <= 0 || h <= 0 {
		w, h = fallbackMaskW, fallbackMaskH
	}
	png, err := mask.OverlayPNG(w, h)
	if err != nil {
		return "", fmt.Errorf("privacy mask: %w", err)
	}
	overlay := tmpBase + ".mask.tmp"
	if err := os.WriteFile(overlay, png, 0o640); err != nil {
		return "", fmt.Errorf("privacy mask: %w", err)
	}
	defer os.Remove(overlay)
	dst := tmpBase + ".masked.tmp"
	cmd := exec.CommandContext(ctx, m.ffmpeg, burnArgs(src, overlay, dst)...)
	cmd.WaitDelay = time.Second
	var stderr tailBuffer
	stderr.max = 512
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		_ = os.Remove(dst)
		if ctx.Err() != nil {
			return "", fmt.Errorf("privacy mask: ffmpeg: %w", ctx.Err())
		}
		return "", fmt.Errorf("privacy mask: ffmpeg: %w: %s", err, stderr.String())
	}
	return dst, nil
}

// burnArgs is ffmpeg's argument list (no shell) to lay the overlay PNG over every frame of src and encode
// H.264 into a fragmented MP4 like the clips Media writes itself. scale2ref fits the overlay to the video
// (nearest neighbour, so the mask's opaque edge stays opaque); the even-size scale satisfies yuv420p.
func burnArgs(src, overlay, dst string) []string {
	return []string{
		"-hide_banner", "-loglevel", "error", "-nostats", "-nostdin",
		"-threads", "1", "-i", src, "-f", "png_pipe", "-i", overlay,
		"-filter_complex", "[1:v][0:v]scale2ref=flags=neighbor[m][v];[v][m]overlay=0:0:format=auto," +
			"scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p[out]",
		"-map", "[out]", "-an", "-sn", "-dn", "-fps_mode", "passthrough",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-threads", "1",
		"-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", dst,
	}
}

// PurgeClips deletes the camera's stored clips that overlap [from, to] (inclusive) and returns them. It is
// retention by purpose: the clips of a room's camera during an occupant's stay go when the occupant's
// personal data does, whatever the age-based retention. A clip still recording is not touched; call again
// after it is finished. The clips of a camera no longer configured (whose directory is left on disk, outside
// the age-based retention) are found from their sidecars. Errors: ErrCameraNotFound (neither configured nor
// on disk), or the deletion failures (the other clips are still tried).
func (m *Media) PurgeClips(cameraID string, from, to time.Time) ([]Clip, error) {
	m.retMu.Lock()
	defer m.retMu.Unlock()
	if m.camera(cameraID) == nil {
		return m.purgeUnconfigured(cameraID, from, to)
	}
	m.idxMu.Lock()
	var hit []Clip
	for _, c := range m.index[cameraID] {
		if !c.End.Before(from) && !c.Start.After(to) {
			hit = append(hit, c)
		}
	}
	m.idxMu.Unlock()
	sort.Slice(hit, func(i, j int) bool { return hit[i].Start.Before(hit[j].Start) })
	var errs []error
	out := hit[:0]
	for _, c := range hit {
		if err := m.deleteClip(c); err != nil {
			errs = append(errs, fmt.Errorf("clip %s: %w", c.ID, err))
			continue
		}
		out = append(out, c)
		m.met.clips.WithLabelValues(clipPurged).Inc()
		m.log.Info("clip deleted", "camera", c.Camera, "clip", c.ID, "why", clipPurged)
	}
	m.updateClipBytes()
	return out, errors.Join(errs...)
}

// ClipsDir is the directory under which clips are stored, one subdirectory per camera.
func (m *Media) ClipsDir() string { return m.clipsDir }

// purgeUnconfigured deletes the clips overlapping [from, to] from the directory of a camera that is not
// configured, reading their sidecars. m.retMu is held.
func (m *Media) purgeUnconfigured(cameraID string, from, to time.Time) ([]Clip, error) {
	if !config.ValidCameraID(cameraID) {
		return nil, ErrCameraNotFound
	}
	dir := filepath.Join(m.clipsDir, cameraID)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrCameraNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("media: read clips: %w", err)
	}
	var out []Clip
	var errs []error
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ValidClipID(id) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		var c Clip
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("clip %s: %w", id, err))
			continue
		}
		if c.End.Before(from) || c.Start.After(to) {
			continue
		}
		c.ID, c.Camera = id, cameraID
		if err := m.deleteClip(c); err != nil {
			errs = append(errs, fmt.Errorf("clip %s: %w", id, err))
			continue
		}
		out = append(out, c)
		m.met.clips.WithLabelValues(clipPurged).Inc()
		m.log.Info("clip deleted", "camera", cameraID, "clip", id, "why", clipPurged)
	}
	return out, errors.Join(errs...)
}

// staleMaskedClips lists the stored clips of masked cameras that do not carry the camera's current mask
// (recorded before it was set or changed), oldest first.
func (m *Media) staleMaskedClips() []Clip {
	m.idxMu.Lock()
	defer m.idxMu.Unlock()
	var out []Clip
	for _, c := range m.cameras() {
		fp := c.cfg.PrivacyMask.Fingerprint()
		if fp == "" {
			continue
		}
		for _, cl := range m.index[c.cfg.ID] {
			if cl.PrivacyMask != fp {
				out = append(out, cl)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// remask burns the current mask into clips recorded before it, one at a time, until done or Close. Until a
// clip is done Clip refuses it (ErrClipMasking); one that fails stays refused, and is tried again at the next
// start.
func (m *Media) remask(stale []Clip) {
	defer m.wg.Done()
	m.log.Info("masking clips recorded before their camera's privacy mask", "clips", len(stale))
	for _, cl := range stale {
		if m.ctx.Err() != nil {
			return
		}
		start := time.Now()
		err := m.remaskClip(m.camera(cl.Camera), cl)
		m.priv.duration.WithLabelValues(maskClip).Observe(time.Since(start).Seconds())
		if err != nil {
			m.priv.failures.WithLabelValues(maskClip).Inc()
			m.log.Warn("clip not masked; it is not served", "camera", cl.Camera, "clip", cl.ID, "err", err)
		}
	}
}

// remaskClip replaces a stored clip by its transcode with the camera's mask and records the mask in its
// sidecar. The MP4 is replaced first: a crash before the sidecar is written only masks it again.
func (m *Media) remaskClip(c *camera, cl Clip) error {
	dir := filepath.Join(m.clipsDir, cl.Camera)
	src := filepath.Join(dir, cl.ID+".mp4")
	ctx, cancel := context.WithTimeout(m.ctx, clipBurnTimeout)
	defer cancel()
	dst, err := m.burnClip(ctx, c.cfg.PrivacyMask, src, filepath.Join(dir, "."+cl.ID+".remask"), cl.Width, cl.Height)
	if err != nil {
		return err
	}
	m.retMu.Lock() // retention must not delete the clip under the swap
	defer m.retMu.Unlock()
	m.idxMu.Lock()
	cur, ok := m.index[cl.Camera][cl.ID]
	m.idxMu.Unlock()
	if !ok { // deleted meanwhile
		_ = os.Remove(dst)
		return nil
	}
	if err := os.Rename(dst, src); err != nil {
		_ = os.Remove(dst)
		return fmt.Errorf("privacy mask: %w", err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("privacy mask: %w", err)
	}
	cur.SizeBytes, cur.Codec, cur.PrivacyMask = fi.Size(), cameras.CodecH264, c.cfg.PrivacyMask.Fingerprint()
	if err := writeSidecar(filepath.Join(dir, cl.ID+".json"), &cur); err != nil {
		return err
	}
	syncDir(dir)
	m.idxMu.Lock()
	m.index[cl.Camera][cl.ID] = cur
	m.idxMu.Unlock()
	m.updateClipBytes()
	m.log.Info("clip masked", "camera", cl.Camera, "clip", cl.ID)
	return nil
}
