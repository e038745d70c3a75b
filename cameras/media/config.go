// Package media keeps a GOP-aligned ring buffer of every camera's access units and serves what is built on
// it: JPEG snapshots (decoded by an ffmpeg subprocess), event clips written as fragmented MP4 files, and a
// live view streamed as fragmented MP4 over WebSocket for Media Source Extensions players.
package media

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/cameras/privacymask"
	"citywatch/config"
	"citywatch/internal/clock"
)

// Errors returned by Media. Callers check them with errors.Is.
var (
	// ErrCameraNotFound means the camera ID is not configured.
	ErrCameraNotFound = errors.New("media: camera not found")
	// ErrNoKeyframe means the camera has delivered no picture yet (no keyframe in this session).
	ErrNoKeyframe = errors.New("media: camera has no picture yet")
	// ErrLiveUnsupported means the camera's codec (M-JPEG) cannot be played through Media Source
	// Extensions; its snapshot is its latest frame.
	ErrLiveUnsupported = errors.New("live view is not supported for MJPEG cameras (browsers cannot play " +
		"M-JPEG through Media Source Extensions); use the snapshot, which is always the latest frame, and refresh it")
	// ErrFFmpegUnavailable means snapshots cannot be decoded; the wrapping error says why.
	ErrFFmpegUnavailable = errors.New("media: ffmpeg unavailable")
	// ErrClipNotFound means no stored clip has that ID (or the ID is not a valid clip ID).
	ErrClipNotFound = errors.New("media: clip not found")
	// ErrClipInProgress means the clip is still being recorded; it can be fetched once complete.
	ErrClipInProgress = errors.New("media: clip is still recording")
	// ErrNotStarted means Start has not been called.
	ErrNotStarted = errors.New("media: not started")
	// ErrClosed means Media was closed.
	ErrClosed = errors.New("media: closed")
)

// Defaults applied by New to zero Config fields.
const (
	DefaultRingSeconds     = 30
	DefaultRingMaxBytes    = 32 << 20
	DefaultPreSeconds      = 5
	DefaultPostSeconds     = 10
	DefaultMaxClipSeconds  = 60
	DefaultRetention       = 7 * 24 * time.Hour
	DefaultMaxClipBytes    = 2 << 30
	DefaultSnapshotTimeout = 10 * time.Second
	DefaultLiveQueueFrames = 256
	DefaultClipQueueFrames = 1024
)

// Config configures Media. Zero values take the defaults stated on each field.
type Config struct {
	// DataDir is the directory under which clips are stored (<DataDir>/clips/<camera>/<id>.mp4). Required.
	DataDir string
	// FFmpegPath is the ffmpeg executable for snapshots. It defaults to "ffmpeg" looked up on PATH.
	FFmpegPath string
	// Cameras lists the cameras to buffer. Access units of other cameras are counted and ignored.
	Cameras []CameraConfig
	// RingSeconds bounds each camera's ring buffer by stream time (whole GOPs are evicted). It defaults to 30.
	RingSeconds float64
	// RingMaxBytes bounds each camera's ring buffer by memory (payload plus a fixed per-frame overhead). It
	// defaults to 32 MiB.
	RingMaxBytes int64
	// PreSeconds is the default pre-event time of a clip. It defaults to 5.
	PreSeconds float64
	// PostSeconds is the default post-event time of a clip. It defaults to 10.
	PostSeconds float64
	// MaxClipSeconds bounds a clip extended by further events. It defaults to 60.
	MaxClipSeconds float64
	// Retention is how long clips are kept. It defaults to 7 days.
	Retention time.Duration
	// MaxClipBytes bounds the total size of stored clips of all cameras; the oldest are deleted first. It
	// defaults to 2 GiB.
	MaxClipBytes int64
	// JanitorInterval is how often retention runs. It defaults to 1m.
	JanitorInterval time.Duration
	// ClipIdleTimeout ends a recording when its camera delivered nothing for that long (wall clock). It
	// defaults to 10s.
	ClipIdleTimeout time.Duration
	// SnapshotTimeout bounds one ffmpeg snapshot run. It defaults to 10s.
	SnapshotTimeout time.Duration
	// LiveQueueFrames bounds each live viewer's send queue in access units; a viewer whose queue is full is
	// dropped. It defaults to 256.
	LiveQueueFrames int
	// LiveWriteTimeout bounds one WebSocket write to a live viewer. It defaults to 10s.
	LiveWriteTimeout time.Duration
	// ClipQueueFrames bounds the access units queued for a recording's file writer. It defaults to 1024.
	ClipQueueFrames int
}

// CameraConfig configures one camera.
type CameraConfig struct {
	// ID is the camera ID: 1-64 characters of [A-Za-z0-9_.-], not "." or "..". It names the clip directory.
	ID string
	// Site is the camera's site, recorded in clip sidecars.
	Site string
	// PreSeconds overrides Config.PreSeconds for this camera when > 0.
	PreSeconds float64
	// PostSeconds overrides Config.PostSeconds for this camera when > 0.
	PostSeconds float64
	// PrivacyMask is burned into the camera's snapshots and clips (see Masked for live view). It defaults to
	// none.
	PrivacyMask privacymask.Mask
}

// Deps are Media's dependencies. Nil fields take no-op or real defaults.
type Deps struct {
	// Logger logs with a "component"="media" attribute; nil discards.
	Logger *slog.Logger
	// Registerer registers the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock tells the time and runs the retention and idle-recording timers; nil is the real clock.
	Clock clock.Clock
}

func (c *Config) applyDefaults() {
	if c.RingSeconds == 0 {
		c.RingSeconds = DefaultRingSeconds
	}
	if c.RingMaxBytes == 0 {
		c.RingMaxBytes = DefaultRingMaxBytes
	}
	if c.PreSeconds == 0 {
		c.PreSeconds = DefaultPreSeconds
	}
	if c.PostSeconds == 0 {
		c.PostSeconds = DefaultPostSeconds
	}
	if c.MaxClipSeconds == 0 {
		c.MaxClipSeconds = DefaultMaxClipSeconds
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.MaxClipBytes == 0 {
		c.MaxClipBytes = DefaultMaxClipBytes
	}
	if c.JanitorInterval == 0 {
		c.JanitorInterval = time.Minute
	}
	if c.ClipIdleTimeout == 0 {
		c.ClipIdleTimeout = 10 * time.Second
	}
	if c.SnapshotTimeout == 0 {
		c.SnapshotTimeout = DefaultSnapshotTimeout
	}
	if c.LiveQueueFrames == 0 {
		c.LiveQueueFrames = DefaultLiveQueueFrames
	}
	if c.LiveWriteTimeout == 0 {
		c.LiveWriteTimeout = 10 * time.Second
	}
	if c.ClipQueueFrames == 0 {
		c.ClipQueueFrames = DefaultClipQueueFrames
	}
}

func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir: must be set")
	}
	pos := []struct {
		name string
		v    float64
	}{{"ring_seconds", c.RingSeconds}, {"pre_seconds", c.PreSeconds}, {"post_seconds", c.PostSeconds},
		{"max_clip_seconds", c.MaxClipSeconds}, {"ring_max_bytes", float64(c.RingMaxBytes)},
		{"max_clip_bytes", float64(c.MaxClipBytes)}, {"retention", float64(c.Retention)},
		{"janitor_interval", float64(c.JanitorInterval)}, {"clip_idle_timeout", float64(c.ClipIdleTimeout)},
		{"snapshot_timeout", float64(c.SnapshotTimeout)}, {"live_queue_frames", float64(c.LiveQueueFrames)},
		{"live_write_timeout", float64(c.LiveWriteTimeout)}, {"clip_queue_frames", float64(c.ClipQueueFrames)}}
	for _, p := range pos {
		if !(p.v > 0) {
			return fmt.Errorf("%s: must be > 0, got %v", p.name, p.v)
		}
	}
	if c.PreSeconds >= c.RingSeconds {
		return fmt.Errorf("pre_seconds: must be < ring_seconds (%v), got %v", c.RingSeconds, c.PreSeconds)
	}
	seen := map[string]bool{}
	for i, cam := range c.Cameras {
		if !config.ValidCameraID(cam.ID) {
			return fmt.Errorf("cameras[%d].id: must be %s, got %q", i, config.CameraIDRule, cam.ID)
		}
		if seen[cam.ID] {
			return fmt.Errorf("cameras[%d].id: duplicate %q", i, cam.ID)
		}
		seen[cam.ID] = true
		if cam.PreSeconds < 0 || cam.PostSeconds < 0 {
			return fmt.Errorf("cameras[%d]: pre_seconds and post_seconds must be >= 0", i)
		}
		if err := cam.PrivacyMask.Validate(); err != nil {
			return fmt.Errorf("cameras[%d].privacy_mask%w", i, err)
		}
		if cam.PreSeconds >= c.RingSeconds {
			return fmt.Errorf("cameras[%d].pre_seconds: must be < ring_seconds (%v), got %v", i, c.RingSeconds, cam.PreSeconds)
		}
	}
	return nil
}
