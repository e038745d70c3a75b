// Package analyze decodes a low-rate, low-resolution grey picture of each camera with an ffmpeg subprocess fed
// the camera monitor's own access units on stdin (no second camera connection), and scores it: motion per
// zone with hysteresis, and tamper (black, covered, frozen, moved). Scores become camera_motion_score and
// camera_tamper samples and motion/tamper events.
//
// Decode cost: every fed access unit is decoded, so the feed is what costs. Go picks the frames to analyse by
// PTS before they are fed, so the analysis rate does not depend on ffmpeg's idea of the frame rate, and with
// Feed auto only what those frames need is fed: when the analysis interval is at least the camera's keyframe
// interval, only keyframes (which cuts decoding by the GOP length); otherwise each GOP from its keyframe up to
// its last analysed frame and the two access units after it (ffmpeg completes a frame only when more input
// arrives), the rest of the GOP never (FeedPartial: at 2 analysed frames per second and a 1 s GOP of 25
// frames, 15 of the 25 are decoded). ffmpeg runs single-threaded and scales to a 160-pixel-wide grey picture.
//
// M-JPEG frames are written to ffmpeg's mjpeg demuxer as they are. Every one is a keyframe, so the stream is
// thinned to about AnalysisFPS by arrival time before ffmpeg: frames that would not be analysed are not
// decoded. ffmpeg's M-JPEG parser ends a frame where the next one starts, so a frame is analysed when the
// next fed frame arrives (1/AnalysisFPS later).
package analyze

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"citywatch/cameras"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
)

// Metric names of the samples the Analyzer appends (contract).
const (
	MetricMotionScore = "camera_motion_score"
	MetricTamper      = "camera_tamper"
)

// Deps are the Analyzer's collaborators. Every field is optional.
type Deps struct {
	// Appender receives camera_motion_score and camera_tamper samples for every analysed frame. Nil: none.
	Appender store.Appender
	// Events receives motion and tamper state changes, from one goroutine, in order. A slow consumer never
	// stalls analysis: events wait in a bounded queue and are dropped and counted when it is full.
	Events func(Event)
	// Logger is used with component=analyze. Nil discards.
	Logger *slog.Logger
	// Registerer registers the self metrics. Nil: not registered.
	Registerer prometheus.Registerer
	// Clock is the clock for decoder restarts and stalls, status age and frames whose access unit has no
	// Time. Nil is the real clock. Analysis durations (FrozenAfter, TamperAfter, MovedAfter) run on the access
	// units' Time.
	Clock clock.Clock
}

// Event is a motion or tamper state change of a camera.
type Event struct {
	// CameraID and Site identify the camera.
	CameraID, Site string
	// Kind is KindMotion or KindTamper.
	Kind string
	// Zone is the zone name of a motion event.
	Zone string
	// Tamper is the tamper kind (TamperBlack, ...) of a tamper event.
	Tamper string
	// Active is true when the condition starts, false when it ends.
	Active bool
	// Score is the value that decided: the zone's motion score, the mean luma (black), the luma variance
	// (covered), the moved score; 0 for frozen.
	Score float64
	// Time is the time of the frame that changed the state.
	Time time.Time
}

// Analysis states of a camera (Status.State).
const (
	// StateUnavailable: the camera cannot be analysed (no ffmpeg, unknown camera).
	StateUnavailable = "unavailable"
	// StateWaiting: no decodable video (H.264, H.265 or M-JPEG) has arrived from the camera yet, or no frame
	// was analysed for DecoderStallTimeout.
	StateWaiting = "waiting"
	// StateStarting: video arrives and is being decoded, but no frame has been analysed yet.
	StateStarting = "starting"
	// StateFailing: the decoder failed (Reason says how) and restarts with backoff.
	StateFailing = "failing"
	// StateAnalysing: frames are analysed; the last one less than DecoderStallTimeout ago.
	StateAnalysing = "analysing"
)

// Status is the analysis state of one camera.
type Status struct {
	// Available is true only while frames are being analysed (State is StateAnalysing): never before the
	// first frame is decoded, nor while the decoder fails, nor once no frame was analysed for
	// DecoderStallTimeout (the camera stopped sending: State is StateWaiting again).
	Available bool `json:"available"`
	// State is one of StateUnavailable, StateWaiting, StateStarting, StateFailing, StateAnalysing.
	State string `json:"state"`
	// Reason explains every state but StateAnalysing: why analysis is unavailable, what it waits for, or
	// the last decoder failure.
	Reason string `json:"reason,omitempty"`
	// FPS is the measured rate of analysed frames.
	FPS float64 `json:"fps"`
	// LastFrame is the time of the last analysed frame.
	LastFrame time.Time `json:"last_frame"`
	// Motion is the last motion score per zone.
	Motion map[string]float64 `json:"motion"`
	// MotionActive tells which zones are in a motion event.
	MotionActive map[string]bool `json:"motion_active"`
	// Tamper is the state of each tamper kind.
	Tamper map[string]bool `json:"tamper"`
	// Luma is the mean luma (0..1) of the last analysed frame.
	Luma float64 `json:"luma"`
	// MovedScore is the last moved score (share of picture cells unlike the learned reference, 0..1); 0
	// while the reference is being learned.
	MovedScore float64 `json:"moved_score"`
	// Feed is the current feed: FeedAll, FeedKeyframes or FeedPartial.
	Feed string `json:"feed"`
	// Frames is the number of analysed frames.
	Frames uint64 `json:"frames"`
	// Restarts counts decoder restarts (crash, stall, session or resolution change).
	Restarts uint64 `json:"restarts"`
	// Dropped counts access units dropped before the decoder (queue full, waiting for a keyframe, decoder down).
	Dropped uint64 `json:"dropped"`
}

// Analyzer analyses the decoded pictures of a fixed set of cameras. It implements cameras.AccessUnitSink.
type Analyzer struct {
	cfg       Config
	deps      Deps
	log       *slog.Logger
	clk       clock.Clock
	ffmpeg    string
	available bool
	reason    string
	metrics   *selfMetrics
	set       atomic.Pointer[cameraSet]

	samples chan []store.Sample
	events  chan Event

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // camera workers
	outWG     sync.WaitGroup // sample and event loops
	mu        sync.Mutex
	started   bool
	closed    atomic.Bool
	closeOnce sync.Once
}

var _ cameras.AccessUnitSink = (*Analyzer)(nil)

func (a *Analyzer) now() time.Time { return a.clk.Now() }

// New validates cfg (after filling defaults) and builds an Analyzer. A missing ffmpeg is not an error: the
// Analyzer is built, reports Available=false with the reason, and ignores access units.
func New(cfg Config, deps Deps) (*Analyzer, error) {
	cfg.Cameras = append([]CameraConfig(nil), cfg.Cameras...)
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	deps.Logger = logx.Or(deps.Logger)
	a := &Analyzer{
		cfg:     cfg,
		deps:    deps,
		log:     deps.Logger.With("component", "analyze"),
		clk:     clock.Or(deps.Clock),
		metrics: newSelfMetrics(deps.Registerer),
		samples: make(chan []store.Sample, cfg.SampleBuffer),
		events:  make(chan Event, cfg.EventBuffer),
	}
	a.ffmpeg, a.reason = cameras.FindFFmpeg(cfg.FFmpegPath)
	a.available = a.reason == ""
	a.ctx, a.cancel = context.WithCancel(context.Background())
	set, _ := a.plan(nil, cfg.Cameras)
	a.set.Store(set)
	return a, nil
}

// Start starts one worker per camera and the sample and event loops. Without ffmpeg it starts nothing and
// logs why once.
func (a *Analyzer) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("analyze: already started")
	}
	if a.closed.Load() {
		return errors.New("analyze: closed")
	}
	a.started = true
	a.outWG.Add(2)
	go a.sampleLoop()
	go a.eventLoop()
	if !a.available {
		a.log.Warn("video analysis unavailable", "reason", a.reason, "cameras", len(a.set.Load().List))
		return nil
	}
	for _, c := range a.set.Load().List {
		a.startCamera(c)
	}
	return nil
}

// Close stops every decoder and loop and returns once they have exited, after handing queued samples and
// events to their consumers. It is safe to call more than once.
func (a *Analyzer) Close() {
	a.closeOnce.Do(a.close)
}

func (a *Analyzer) close() {
	a.closed.Store(true)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	if a.started {
		close(a.samples)
		close(a.events)
		a.outWG.Wait()
	}
}

// Available reports whether analysis can run, and why not.
func (a *Analyzer) Available() (bool, string) { return a.available, a.reason }

// OnAccessUnit implements cameras.AccessUnitSink: it queues au for the camera's decoder without blocking.
// When the queue is full the access unit is dropped and counted, and so is everything up to the next
// keyframe (a P-frame after a gap cannot be decoded correctly).
func (a *Analyzer) OnAccessUnit(cameraID string, au cameras.AccessUnit) {
	if !a.available {
		return
	}
	c := a.camera(cameraID)
	if c == nil || a.closed.Load() {
		return
	}
	if c.keyOnly.Load() && !au.Keyframe {
		return // not needed: only keyframes are decoded
	}
	if c.waitKey.Load() {
		if !au.Keyframe {
			c.drop(dropWaitKeyframe)
			return
		}
		c.waitKey.Store(false)
	}
	select {
	case c.queue <- au:
	default:
		c.drop(dropQueueFull)
		c.waitKey.Store(true)
	}
}

// Status returns the analysis state of a camera.
func (a *Analyzer) Status(cameraID string) Status {
	c := a.camera(cameraID)
	if c == nil {
		return Status{State: StateUnavailable, Reason: "camera not analysed"}
	}
	return c.status()
}

// emitSamples queues samples for the appender, dropping and counting them when the queue is full.
func (a *Analyzer) emitSamples(s []store.Sample) {
	if a.deps.Appender == nil || len(s) == 0 {
		return
	}
	select {
	case a.samples <- s:
	default:
		a.metrics.samplesDropped.Add(float64(len(s)))
	}
}

// emitEvent queues an event for Deps.Events, dropping and counting it when the queue is full.
func (a *Analyzer) emitEvent(e Event) {
	if a.deps.Events == nil {
		return
	}
	select {
	case a.events <- e:
	default:
		a.metrics.eventsDropped.Inc()
	}
}

const appendTimeout = 10 * time.Second

func (a *Analyzer) sampleLoop() {
	defer a.outWG.Done()
	var lastErr string
	for s := range a.samples {
		s = a.coalesce(s)
		ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
		err := a.deps.Appender.Append(ctx, s)
		cancel()
		if err == nil {
			lastErr = ""
			continue
		}
		a.metrics.appendErrors.Inc()
		if err.Error() != lastErr { // log when the error changes, not once per frame
			lastErr = err.Error()
			a.log.Warn("appending analysis samples failed", "err", err)
		}
	}
}

// maxBatch bounds how many samples one Append carries.
const maxBatch = 4096

// coalesce appends the batches already waiting to s, so that many cameras cost one Append (one WAL commit)
// per round instead of one each.
func (a *Analyzer) coalesce(s []store.Sample) []store.Sample {
	for len(s) < maxBatch {
		select {
		case more, ok := <-a.samples:
			if !ok {
				return s
			}
			s = append(s, more...)
		default:
			return s
		}
	}
	return s
}

func (a *Analyzer) eventLoop() {
	defer a.outWG.Done()
	for e := range a.events {
		a.deps.Events(e)
	}
}
