package analyze

import (
	"errors"
	"fmt"
	"math"
	"time"

	"citywatch/cameras/privacymask"
	"citywatch/cameras/zone"

	"citywatch/config"
)

// Feed modes for CameraConfig.Feed: which access units the decoder gets.
const (
	// FeedAuto feeds only keyframes when the analysis interval (1/AnalysisFPS) is at least the measured
	// keyframe interval, so every analysed frame can be a keyframe, and each GOP up to its last analysed
	// frame otherwise (the status then says FeedPartial); every frame until the interval is measured.
	FeedAuto = "auto"
	// FeedAll feeds every access unit: P-frames need the whole GOP to decode.
	FeedAll = "all"
	// FeedKeyframes feeds only keyframes: the cheapest decode, at most one analysed frame per GOP.
	FeedKeyframes = "keyframes"
	// FeedPartial is the status of a FeedAuto camera whose GOP is longer than the analysis interval: each GOP
	// is fed from its keyframe up to its last analysed frame (the frames that frame is predicted from); the
	// rest of the GOP, which no analysed frame needs, is never decoded. It is not a configurable feed.
	FeedPartial = "partial"
)

// Tamper kinds, the "kind" label of camera_tamper and Event.Tamper.
const (
	TamperBlack   = "black"
	TamperCovered = "covered"
	TamperFrozen  = "frozen"
	TamperMoved   = "moved"
)

// tamperKinds lists every tamper kind in the order samples are emitted. It is not exported: package state
// must not be mutable from outside.
var tamperKinds = []string{TamperBlack, TamperCovered, TamperFrozen, TamperMoved}

// Event kinds for Event.Kind.
const (
	KindMotion = "motion"
	KindTamper = "tamper"
)

// DefaultZone is the name of the zone covering the whole picture, used when a camera has no zones.
const DefaultZone = zone.Default

// Limits on zones, so label cardinality and per-frame work stay bounded.
const (
	MaxZones         = zone.MaxZones
	MaxPolygonPoints = zone.MaxPolygonPoints
)

// Zone is a named region of the picture in which motion is scored (package zone, shared with configuration
// validation).
type Zone = zone.Zone

// ParseZone parses a zone written as "name: x1,y1 x2,y2 x3,y3 ..." and validates it (zone.Parse).
func ParseZone(s string) (Zone, error) { return zone.Parse(s) }

// CameraConfig configures the analysis of one camera. Scores and thresholds are relative: luma and differences
// are 0..1 (1 = 255 grey levels).
type CameraConfig struct {
	// ID is the camera ID, as given to OnAccessUnit and used as the "camera" label. Required, unique.
	ID string
	// Site is the "site" label. Optional.
	Site string
	// Zones are the motion zones. It defaults to one zone named "all" covering the whole picture.
	Zones []Zone
	// PrivacyMask is ignored by the analysis: its pixels never score motion in any zone and do not count
	// in the tamper checks, so what happens behind a mask cannot trigger anything. It defaults to none.
	PrivacyMask privacymask.Mask
	// AnalysisFPS is how many decoded frames per second are analysed. It defaults to 2; at most 30.
	AnalysisFPS float64
	// Feed selects which access units are decoded: auto, all or keyframes. It defaults to auto.
	Feed string

	// MotionThreshold: a zone score above it for MotionOnFrames analysed frames starts a motion event. The
	// score is the mean absolute difference between consecutive analysed frames inside the zone, counting
	// only pixels that changed by more than MotionPixelNoise. It defaults to 0.02.
	MotionThreshold float64
	// MotionOffThreshold: a score below it for MotionOffFrames frames ends the event. It defaults to half of
	// MotionThreshold and must not exceed it.
	MotionOffThreshold float64
	// MotionOnFrames defaults to 2.
	MotionOnFrames int
	// MotionOffFrames defaults to 4.
	MotionOffFrames int
	// MotionPixelNoise is the per-pixel change ignored as sensor or compression noise. It defaults to 0.03.
	MotionPixelNoise float64

	// BlackLuma: a mean luma below it is a black picture (video loss, lens capped). It defaults to 0.1
	// (limited-range black is 16/255 = 0.063).
	BlackLuma float64
	// CoveredVariance: a luma variance below it (a flat picture: lens covered, sprayed or defocused) is
	// covered. It defaults to 0.002 (a standard deviation of about 11 grey levels).
	CoveredVariance float64
	// TamperAfter is how long black or covered must hold before it is reported, and how long it must be gone
	// before it clears. It defaults to 5s.
	TamperAfter time.Duration
	// FrozenAfter: pictures that do not change at all (global difference below FrozenDiff) for this long
	// while frames keep arriving are frozen. It defaults to 10s.
	FrozenAfter time.Duration
	// FrozenDiff is the global mean absolute difference under which two frames count as identical. It
	// defaults to 0.0005; any real sensor noise is far above it.
	FrozenDiff float64
	// MovedThreshold: the share of textured picture cells whose edges no longer match the learned reference
	// above which the scene counts as moved. Motion in a zone changes a few cells; a moved or re-aimed
	// camera changes most. It defaults to 0.6.
	MovedThreshold float64
	// MovedAfter is how long the scene must stay moved before it is reported. It defaults to 10s.
	MovedAfter time.Duration
	// LearnFrames is how many analysed frames build the reference before moved is judged. It defaults to 60
	// (30s at 2 fps).
	LearnFrames int
	// ReferenceRate is the weight of each analysed frame in the slowly updated reference (an exponential
	// average), so lighting drift is followed. It is not applied while the scene looks moved. It defaults to
	// 0.005 (a time constant of 100s at 2 fps).
	ReferenceRate float64
}

// Config configures the Analyzer.
type Config struct {
	// FFmpegPath is the ffmpeg executable. It defaults to "", which looks up "ffmpeg" on PATH. When it is
	// missing, analysis is unavailable (see Status) and everything else keeps working.
	FFmpegPath string
	// Cameras are the analysed cameras; access units of other cameras are ignored.
	Cameras []CameraConfig
	// QueueFrames bounds each camera's queue of access units waiting for the decoder. When it is full,
	// access units are dropped (counted) until the next keyframe. It defaults to 64.
	QueueFrames int
	// RestartMin is the first delay before a crashed decoder is restarted. It defaults to 1s.
	RestartMin time.Duration
	// RestartMax caps the exponentially growing restart delay. It defaults to 30s.
	RestartMax time.Duration
	// DecoderStallTimeout: a decoder that has produced no frame for this long although access units were fed,
	// or whose input has not been read for this long (a write to its stdin blocked), is killed and restarted.
	// Both are judged on Deps.Clock. It defaults to 10s.
	DecoderStallTimeout time.Duration
	// EventBuffer bounds the queue of events waiting for Deps.Events; when full, events are dropped and
	// counted. It defaults to 256.
	EventBuffer int
	// SampleBuffer bounds the queue of sample batches waiting for Deps.Appender; when full, batches are dropped
	// and counted. It defaults to 256.
	SampleBuffer int
}

// SetDefaults fills zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.QueueFrames == 0 {
		c.QueueFrames = 64
	}
	if c.RestartMin == 0 {
		c.RestartMin = time.Second
	}
	if c.RestartMax == 0 {
		c.RestartMax = 30 * time.Second
	}
	if c.DecoderStallTimeout == 0 {
		c.DecoderStallTimeout = 10 * time.Second
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = 256
	}
	if c.SampleBuffer == 0 {
		c.SampleBuffer = 256
	}
	for i := range c.Cameras {
		c.Cameras[i].SetDefaults()
	}
}

// SetDefaults fills zero fields with their defaults.
func (c *CameraConfig) SetDefaults() {
	if len(c.Zones) == 0 {
		c.Zones = []Zone{{Name: DefaultZone, Polygon: [][2]float64{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}}
	}
	setF := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setI := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setF(&c.AnalysisFPS, 2)
	if c.Feed == "" {
		c.Feed = FeedAuto
	}
	setF(&c.MotionThreshold, 0.02)
	setF(&c.MotionOffThreshold, c.MotionThreshold/2)
	setI(&c.MotionOnFrames, 2)
	setI(&c.MotionOffFrames, 4)
	setF(&c.MotionPixelNoise, 0.03)
	setF(&c.BlackLuma, 0.1)
	setF(&c.CoveredVariance, 0.002)
	setD(&c.TamperAfter, 5*time.Second)
	setD(&c.FrozenAfter, 10*time.Second)
	setF(&c.FrozenDiff, 0.0005)
	setF(&c.MovedThreshold, 0.6)
	setD(&c.MovedAfter, 10*time.Second)
	setI(&c.LearnFrames, 60)
	setF(&c.ReferenceRate, 0.005)
}

// Validate reports the first problem of every camera, joined, with the field path and the bad value.
func (c *Config) Validate() error {
	var errs []error
	if c.QueueFrames < 1 || c.QueueFrames > 4096 {
		errs = append(errs, fmt.Errorf("queue_frames: must be 1..4096, got %d", c.QueueFrames))
	}
	if c.RestartMin <= 0 || c.RestartMax < c.RestartMin {
		errs = append(errs, fmt.Errorf("restart_min/restart_max: must be > 0 and min <= max, got %q/%q", c.RestartMin, c.RestartMax))
	}
	if c.DecoderStallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("decoder_stall_timeout: must be > 0, got %q", c.DecoderStallTimeout))
	}
	if c.EventBuffer < 1 || c.SampleBuffer < 1 {
		errs = append(errs, fmt.Errorf("event_buffer/sample_buffer: must be >= 1, got %d/%d", c.EventBuffer, c.SampleBuffer))
	}
	seen := make(map[string]int, len(c.Cameras))
	for i, cc := range c.Cameras {
		if j, dup := seen[cc.ID]; dup {
			errs = append(errs, fmt.Errorf("cameras[%d].id: %q already used by cameras[%d]", i, cc.ID, j))
			continue
		}
		seen[cc.ID] = i
		if err := cc.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("cameras[%d].%w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Validate reports the first problem of c, prefixed with the field name.
func (c *CameraConfig) Validate() error {
	if !config.ValidCameraID(c.ID) {
		return fmt.Errorf("id: must be %s, got %q", config.CameraIDRule, c.ID)
	}
	if len(c.Zones) > MaxZones {
		return fmt.Errorf("zones: at most %d, got %d", MaxZones, len(c.Zones))
	}
	names := map[string]bool{}
	for i, z := range c.Zones {
		if err := z.Validate(); err != nil {
			return fmt.Errorf("zones[%d].%w", i, err)
		}
		if names[z.Name] {
			return fmt.Errorf("zones[%d].name: %q used twice", i, z.Name)
		}
		names[z.Name] = true
	}
	if err := c.PrivacyMask.Validate(); err != nil {
		return fmt.Errorf("privacy_mask%w", err)
	}
	switch c.Feed {
	case FeedAuto, FeedAll, FeedKeyframes:
	default:
		return fmt.Errorf("feed: must be auto, all or keyframes, got %q", c.Feed)
	}
	checks := []struct {
		name      string
		v, lo, hi float64
	}{
		{"analysis_fps", c.AnalysisFPS, 0.01, 30},
		{"motion_threshold", c.MotionThreshold, 1e-6, 1},
		{"motion_off_threshold", c.MotionOffThreshold, 0, c.MotionThreshold},
		{"motion_pixel_noise", c.MotionPixelNoise, 0, 1},
		{"black_luma", c.BlackLuma, 0, 1},
		{"covered_variance", c.CoveredVariance, 0, 0.25},
		{"frozen_diff", c.FrozenDiff, 0, 1},
		{"moved_threshold", c.MovedThreshold, 0.01, 1},
		{"reference_rate", c.ReferenceRate, 1e-6, 1},
	}
	for _, ch := range checks {
		if math.IsNaN(ch.v) || ch.v < ch.lo || ch.v > ch.hi {
			return fmt.Errorf("%s: must be in %g..%g, got %g", ch.name, ch.lo, ch.hi, ch.v)
		}
	}
	if c.MotionOnFrames < 1 || c.MotionOffFrames < 1 || c.LearnFrames < 1 {
		return fmt.Errorf("motion_on_frames/motion_off_frames/learn_frames: must be >= 1, got %d/%d/%d",
			c.MotionOnFrames, c.MotionOffFrames, c.LearnFrames)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"tamper_after", c.TamperAfter}, {"frozen_after", c.FrozenAfter}, {"moved_after", c.MovedAfter}} {
		if d.v < 0 {
			return fmt.Errorf("%s: must be >= 0, got %q", d.name, d.v)
		}
	}
	return nil
}
