package analyze

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"citywatch/cameras"
	"citywatch/internal/reconcile"
	"citywatch/store"
)

// camera is the analysis of one camera: its queue, its worker (which owns the ffmpeg process) and its
// detector (used by the process's frame reader; readers of successive processes never overlap).
type camera struct {
	a       *Analyzer
	cfg     CameraConfig
	queue   chan cameras.AccessUnit
	keyOnly atomic.Bool // only keyframes are fed; OnAccessUnit skips the rest
	waitKey atomic.Bool // a drop happened; OnAccessUnit skips until the next keyframe
	det     *detector
	labels  []store.Label // camera, site
	frames  interface{ Inc() }
	logLim  logLimiter

	// worker state
	proc      *decoderProc
	session   uint64
	codec     string
	srcW      int
	srcH      int
	lastKey   int64 // PTS of the last keyframe, -1 when unknown
	gop       int64 // measured keyframe interval in 90 kHz units, 0 when unknown
	notBefore time.Time
	backoff   time.Duration
	mjSession uint64    // session of mjNext
	mjNext    time.Time // arrival time from which the next M-JPEG frame is fed; zero: feed the next one
	partial   bool      // Feed auto with a GOP longer than the analysis interval: see FeedPartial
	// pend holds the access units of the current GOP since the last one fed, none of them analysed: they are
	// fed only when a later analysed frame of the same GOP needs them as references, and dropped at the next
	// keyframe. Bounded by maxPending.
	pend []cameras.AccessUnit
	// feedNext counts the access units still to be fed at once after an analysed one: ffmpeg completes a
	// frame only when more input arrives, so held back they would leave the last analysed frame of a GOP
	// waiting for the next keyframe.
	feedNext int

	// frame selection by PTS (worker-owned): which fed access units are analysed
	nextPTS     int64
	haveNext    bool
	lastSession uint64

	// worker runs run; Analyzer.startCamera starts it under the analyzer's mu, SetCameras stops it alone.
	worker reconcile.Worker

	mu         sync.Mutex
	st         Status
	ft         []time.Time // recent analysed frame times, for FPS
	analysedAt time.Time   // when (on the Analyzer's clock) the last frame was analysed
}

func newCamera(a *Analyzer, cfg CameraConfig) *camera {
	c := &camera{
		a:       a,
		cfg:     cfg,
		queue:   make(chan cameras.AccessUnit, a.cfg.QueueFrames),
		det:     newDetector(cfg),
		frames:  a.metrics.frames.WithLabelValues(cfg.ID),
		lastKey: -1,
	}
	c.labels = []store.Label{{Name: "camera", Value: cfg.ID}}
	if cfg.Site != "" {
		c.labels = append(c.labels, store.Label{Name: "site", Value: cfg.Site})
	}
	c.keyOnly.Store(cfg.Feed == FeedKeyframes)
	c.st = Status{State: StateUnavailable, Reason: a.reason, Feed: FeedAll,
		Motion: map[string]float64{}, MotionActive: map[string]bool{}, Tamper: map[string]bool{}}
	if cfg.Feed == FeedKeyframes {
		c.st.Feed = FeedKeyframes
	}
	if a.available {
		c.st.State, c.st.Reason = StateWaiting, reasonWaiting
	}
	for _, k := range tamperKinds {
		c.st.Tamper[k] = false
	}
	return c
}

// reasonWaiting explains StateWaiting. The monitor hands on only codecs it depacketizes, so a camera of
// another codec stays here; its camera status names the codec.
const reasonWaiting = "no video received yet (analysis decodes H264, H265 and MJPEG)"

// starting leaves StateWaiting when the first access unit arrives; a failing decoder keeps its state and
// reason until a frame is analysed.
func (c *camera) starting() {
	c.mu.Lock()
	if c.st.State == StateWaiting {
		c.st.State, c.st.Reason = StateStarting, "decoding: no frame analysed yet"
	}
	c.mu.Unlock()
}

func (c *camera) drop(reason string) {
	c.a.metrics.dropped.WithLabelValues(reason).Inc()
	c.mu.Lock()
	c.st.Dropped++
	c.mu.Unlock()
}

func (c *camera) status() Status {
	now := c.a.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	// Frames that stopped (camera offline or stalled) are not shown as analysed from the last one on.
	if s.State == StateAnalysing {
		if age := now.Sub(c.analysedAt); age > c.a.cfg.DecoderStallTimeout {
			s.State, s.Available = StateWaiting, false
			s.Reason = "no frame analysed for " + age.Round(time.Second).String() + ": waiting for video"
		}
	}
	s.Motion = make(map[string]float64, len(c.st.Motion))
	for k, v := range c.st.Motion {
		s.Motion[k] = v
	}
	s.MotionActive = make(map[string]bool, len(c.st.MotionActive))
	for k, v := range c.st.MotionActive {
		s.MotionActive[k] = v
	}
	s.Tamper = make(map[string]bool, len(c.st.Tamper))
	for k, v := range c.st.Tamper {
		s.Tamper[k] = v
	}
	return s
}

// run is the camera's worker: it feeds queued access units to the decoder and restarts it as needed.
func (c *camera) run(ctx context.Context) {
	defer c.stopProc("", false)
	for {
		var done <-chan struct{}
		if c.proc != nil {
			done = c.proc.done
		}
		select {
		case <-ctx.Done():
			return
		case <-done:
			c.procEnded(restartExit)
		case au := <-c.queue:
			c.handle(ctx, au)
		}
	}
}

// handle feeds one access unit, (re)starting the decoder when needed.
func (c *camera) handle(ctx context.Context, au cameras.AccessUnit) {
	format := ffmpegFormat(au.Codec)
	if format == "" {
		c.drop(dropCodec)
		c.mu.Lock()
		c.st.State, c.st.Available = StateUnavailable, false
		c.st.Reason = "video codec " + au.Codec + " cannot be analysed (analysis decodes H264, H265 and MJPEG)"
		c.mu.Unlock()
		return
	}
	if c.proc != nil {
		switch {
		case au.Session != c.session:
			c.stopProc(restartSession, true)
		case au.Keyframe && (au.Codec != c.codec || sizeChanged(c.srcW, c.srcH, au.Width, au.Height)):
			c.stopProc(restartResolution, true)
		}
	}
	if au.Session != c.session {
		c.lastKey, c.gop = -1, 0
	}
	c.session = au.Session
	c.starting()
	if au.Keyframe {
		c.keyframeSeen(au.PTS)
	}
	if c.keyOnly.Load() && !au.Keyframe {
		return
	}
	if au.Codec == cameras.CodecMJPEG && !c.mjpegDue(au) {
		return
	}
	if c.proc == nil {
		if !au.Keyframe {
			c.drop(dropWaitKeyframe)
			return
		}
		if c.a.now().Before(c.notBefore) {
			c.drop(dropDecoderDown)
			return
		}
		if !c.startProc(ctx, au) {
			c.drop(dropDecoderDown)
			return
		}
	}
	if c.proc.stalled(c.a.now(), c.a.cfg.DecoderStallTimeout) {
		c.procEnded(restartStall)
		c.drop(dropDecoderDown)
		return
	}
	want := c.selectFrame(au)
	if c.partial {
		if au.Keyframe {
			c.dropPending() // nothing after a keyframe refers to what came before it
		}
		if !want && c.feedNext == 0 && len(c.pend) < maxPending {
			c.pend = append(c.pend, au)
			return
		}
		for _, p := range c.pend {
			if !c.feed(p, false) {
				return
			}
		}
		c.dropPending()
		c.feedNext = max(c.feedNext-1, 0)
		if want {
			c.feedNext = feedAfterAnalysed
		}
	}
	c.feed(au, want)
}

// feedAfterAnalysed is how many access units follow an analysed one into the decoder at once.
const feedAfterAnalysed = 2

// maxPending bounds the access units a partial feed holds back: past it they are fed (decoded, not analysed),
// as with FeedAll. At 30 fps and the lowest analysis rate it is several seconds of a GOP.
const maxPending = 256

// clearPending forgets the partial feed's state, for a new decoder or feed.
func (c *camera) clearPending() {
	c.dropPending()
	c.feedNext = 0
}

func (c *camera) dropPending() {
	clear(c.pend) // let the held access units go
	c.pend = c.pend[:0]
}

// feed writes one access unit to the decoder; analyse tells the frame reader whether to analyse its frame. It
// reports false when the decoder failed (and was scheduled for restart).
func (c *camera) feed(au cameras.AccessUnit, analyse bool) bool {
	if err := c.proc.feed(au, analyse, c.a.now()); err != nil {
		reason := restartExit // the process is gone or going
		if errors.Is(err, os.ErrDeadlineExceeded) {
			reason = restartStall // it stopped reading its input
		}
		c.procEnded(reason)
		return false
	}
	return true
}

// mjpegDue thins an M-JPEG stream to about AnalysisFPS before the decoder: every frame is a keyframe, so a
// frame that would not be analysed need not be decoded. It paces on arrival time, which every access unit
// has (the PTS may be unknown), with the same tolerance as selectFrame.
func (c *camera) mjpegDue(au cameras.AccessUnit) bool {
	t := au.Time
	if t.IsZero() {
		return true
	}
	interval := time.Duration(float64(time.Second) / c.cfg.AnalysisFPS)
	if c.mjNext.IsZero() || au.Session != c.mjSession || t.Before(c.mjNext.Add(-10*interval)) {
		c.mjSession, c.mjNext = au.Session, t.Add(interval)
		return true
	}
	if t.Before(c.mjNext.Add(-interval / 20)) {
		return false
	}
	c.mjNext = c.mjNext.Add(interval)
	if !c.mjNext.After(t) {
		c.mjNext = t.Add(interval)
	}
	return true
}

func sizeChanged(w, h, nw, nh int) bool {
	return nw > 0 && nh > 0 && (nw != w || nh != h)
}

// keyframeSeen measures the keyframe interval and, with Feed auto, picks the feed. It runs at a keyframe,
// where switching between feeds is safe for the decoder.
func (c *camera) keyframeSeen(pts int64) {
	if c.lastKey >= 0 && pts > c.lastKey {
		d := pts - c.lastKey
		if c.gop == 0 {
			c.gop = d
		} else {
			c.gop = (3*c.gop + d) / 4
		}
	}
	c.lastKey = pts
	if c.cfg.Feed != FeedAuto || c.gop == 0 {
		return
	}
	interval := int64(90000 / c.cfg.AnalysisFPS)
	keyOnly := interval >= c.gop*95/100 // a GOP a few percent longer than the interval still fits
	if keyOnly == c.keyOnly.Load() && c.partial == !keyOnly {
		return
	}
	c.keyOnly.Store(keyOnly)
	c.partial = !keyOnly
	c.clearPending()
	feed := FeedPartial
	if keyOnly {
		feed = FeedKeyframes
	}
	c.mu.Lock()
	c.st.Feed = feed
	c.mu.Unlock()
	c.a.log.Debug("analysis feed changed", "camera", c.cfg.ID, "feed", feed, "gop_seconds", float64(c.gop)/90000)
}

// startProc starts a decoder sized for au; on failure it schedules a retry.
func (c *camera) startProc(ctx context.Context, au cameras.AccessUnit) bool {
	w, h := analysisSize(au.Width, au.Height)
	// No reader runs now: the detector and frame selection may be reset before the new one starts.
	c.haveNext = false
	c.det.resize(w, h)
	c.det.resetPrev()
	p, err := startDecoder(ctx, c.a.ffmpeg, ffmpegFormat(au.Codec), w, h, c.a.clk, c.a.cfg.DecoderStallTimeout, c.onFrame)
	if err != nil {
		c.a.metrics.restarts.WithLabelValues(restartStartError).Inc()
		c.failed("starting ffmpeg: " + err.Error())
		return false
	}
	c.proc = p
	c.codec, c.srcW, c.srcH = au.Codec, au.Width, au.Height
	return true
}

// stopProc ends the current decoder and waits for it. graceful lets ffmpeg decode what it was given first.
// A non-empty reason counts a restart.
func (c *camera) stopProc(reason string, graceful bool) {
	c.clearPending()
	if c.proc == nil {
		return
	}
	c.proc.stop(graceful)
	c.proc = nil
	if reason != "" {
		c.a.metrics.restarts.WithLabelValues(reason).Inc()
		c.mu.Lock()
		c.st.Restarts++
		c.mu.Unlock()
	}
}

// procEnded handles a decoder that exited or failed on its own: count, log (rate-limited) and back off.
func (c *camera) procEnded(reason string) {
	c.clearPending()
	p := c.proc
	if p == nil {
		return
	}
	p.stop(false)
	c.proc = nil
	c.a.metrics.restarts.WithLabelValues(reason).Inc()
	c.mu.Lock()
	c.st.Restarts++
	c.mu.Unlock()
	msg := "ffmpeg exited"
	if reason == restartStall {
		msg = "ffmpeg stalled: no decoded frame for " + c.a.cfg.DecoderStallTimeout.String()
	}
	if err := p.exitErr(); err != nil {
		msg += ": " + err.Error()
	}
	if tail := p.stderrTail(); tail != "" {
		msg += ": " + tail
	}
	if p.decodedFrames() > 0 && c.a.now().Sub(p.started) > c.a.cfg.RestartMax {
		c.backoff = 0 // it ran well for a while: this is a new problem, retry quickly
	}
	c.failed(msg)
}

// failed records a decoder failure and schedules the next start.
func (c *camera) failed(msg string) {
	if c.backoff == 0 {
		c.backoff = c.a.cfg.RestartMin
	} else {
		c.backoff = min(2*c.backoff, c.a.cfg.RestartMax)
	}
	c.notBefore = c.a.now().Add(c.backoff)
	c.mu.Lock()
	c.st.State, c.st.Available, c.st.Reason = StateFailing, false, msg
	c.mu.Unlock()
	if c.logLim.allow(msg, c.a.now()) {
		c.a.log.Warn("video analysis decoder failed", "camera", c.cfg.ID, "err", msg, "retry_in", c.backoff)
	}
}

// onFrame is called by the decoder's reader for every decoded frame, in order.
func (c *camera) onFrame(pix []byte, w, h int, m frameMeta, ok bool) {
	c.a.metrics.decoded.Inc()
	if !ok { // more frames than access units: should not happen; analyse on our clock
		m.t = c.a.now()
		m.analyse = true
	}
	if !m.analyse {
		return
	}
	if m.t.IsZero() {
		m.t = c.a.now()
	}
	start := time.Now()
	r := c.det.analyse(pix, m.t)
	c.a.metrics.frameDuration.Observe(time.Since(start).Seconds())
	c.frames.Inc()
	c.publish(r, m.t)
}

// selectFrame picks the access units to analyse by PTS so that about AnalysisFPS frames per second are
// analysed. With a partial feed a keyframe up to half an interval early is taken (and the schedule restarts
// from it), so a GOP's analysed frames start at its keyframe and fewer of its frames need decoding.
func (c *camera) selectFrame(au cameras.AccessUnit) bool {
	interval := int64(90000 / c.cfg.AnalysisFPS)
	if au.PTS < 0 {
		return true
	}
	if !c.haveNext || au.Session != c.lastSession || au.PTS < c.nextPTS-10*interval ||
		(c.partial && au.Keyframe && au.PTS >= c.nextPTS-interval/2) {
		c.haveNext, c.lastSession = true, au.Session
		c.nextPTS = au.PTS + interval
		return true
	}
	if au.PTS < c.nextPTS-interval/20 { // tolerate a little PTS jitter
		return false
	}
	c.nextPTS += interval
	if c.nextPTS <= au.PTS {
		c.nextPTS = au.PTS + interval
	}
	return true
}

// publish records the result in the status and emits samples and events.
func (c *camera) publish(r frameResult, t time.Time) {
	ms := t.UnixMilli()
	samples := make([]store.Sample, 0, len(c.cfg.Zones)+len(tamperKinds))
	c.mu.Lock()
	c.st.Frames++
	c.st.State, c.st.Available, c.st.Reason = StateAnalysing, true, ""
	c.analysedAt = c.a.now()
	c.st.Luma, c.st.MovedScore = r.luma, r.moved
	c.st.LastFrame = t
	c.ft = append(c.ft, t)
	if len(c.ft) > 10 {
		c.ft = c.ft[1:]
	}
	if n := len(c.ft); n > 1 && c.ft[n-1].After(c.ft[0]) {
		c.st.FPS = float64(n-1) / c.ft[n-1].Sub(c.ft[0]).Seconds()
	}
	for i, z := range c.cfg.Zones {
		if r.motion != nil {
			c.st.Motion[z.Name] = r.motion[i]
			samples = append(samples, store.Sample{Name: MetricMotionScore, Labels: c.withLabel("zone", z.Name), T: ms, V: r.motion[i]})
		}
		c.st.MotionActive[z.Name] = c.det.hyst[i].active
	}
	for _, k := range tamperKinds {
		c.st.Tamper[k] = r.tamper[k]
		v := 0.0
		if r.tamper[k] {
			v = 1
		}
		samples = append(samples, store.Sample{Name: MetricTamper, Labels: c.withLabel("kind", k), T: ms, V: v})
	}
	c.mu.Unlock()
	c.a.emitSamples(samples)
	for _, ch := range r.changes {
		c.a.emitEvent(Event{CameraID: c.cfg.ID, Site: c.cfg.Site, Kind: ch.kind, Zone: ch.zone, Tamper: ch.tamper,
			Active: ch.active, Score: ch.score, Time: t})
	}
}

func (c *camera) withLabel(name, value string) []store.Label {
	ls := make([]store.Label, 0, len(c.labels)+1)
	ls = append(ls, c.labels...)
	ls = append(ls, store.Label{Name: name, Value: value})
	return store.SortLabels(ls)
}

// analysisSize is the grey picture size ffmpeg scales to: 160 pixels wide, the height from the stream's
// aspect ratio (even, 32..320), or 160×90 when the size is unknown. Zones are relative, so any size works.
func analysisSize(w, h int) (int, int) {
	const aw = 160
	if w <= 0 || h <= 0 {
		return aw, 90
	}
	ah := (aw*h/w + 1) &^ 1
	return aw, min(max(ah, 32), 320)
}

// logLimiter lets a message through when it differs from the last one or a minute has passed.
type logLimiter struct {
	last string
	at   time.Time
}

func (l *logLimiter) allow(msg string, now time.Time) bool {
	if msg == l.last && now.Sub(l.at) < time.Minute {
		return false
	}
	l.last, l.at = msg, now
	return true
}
