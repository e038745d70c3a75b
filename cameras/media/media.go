package media

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"citywatch/cameras"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// Media buffers every configured camera's access units and serves snapshots, event clips and live view.
// It implements cameras.AccessUnitSink.
type Media struct {
	cfg      Config
	log      *slog.Logger
	clock    clock.Clock
	now      func() time.Time
	met      *metrics
	priv     *privacyMetrics
	set      atomic.Pointer[cameraSet]
	setMu    sync.Mutex // one SetCameras at a time
	clipsDir string
	ffmpeg   string
	ffReason string // why ffmpeg is unavailable, "" when it is
	upgrader websocket.Upgrader

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards started, closed and wg.Add after Close; taken after a camera's mutex
	started bool
	closed  bool

	idxMu sync.Mutex
	index map[string]map[string]Clip // camera → clip ID → stored clip
	retMu sync.Mutex                 // one retention pass at a time
}

var _ cameras.AccessUnitSink = (*Media)(nil)

// camera is one camera's buffered state. mu guards everything below it; OnAccessUnit holds it briefly.
type camera struct {
	cfg       CameraConfig
	pre, post time.Duration
	ringBytes prometheus.Gauge
	evicted   prometheus.Counter

	mu        sync.Mutex
	ring      *ring
	session   uint64
	lastKey   *cameras.AccessUnit // the latest keyframe of the current session
	seenEvict uint64
	seenOver  uint64
	seenSkip  uint64
	rec       *recording
	viewers   map[*viewer]struct{}
	snap      *snapResult // cached snapshot of a keyframe
	flight    *snapFlight // snapshot being decoded
	vps       []byte      // the current parameter sets, owned by Media
	sps       []byte
	pps       []byte
}

// New validates cfg, applies defaults and returns Media; call Start to begin clip writing and retention.
func New(cfg Config, deps Deps) (*Media, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("media config: %w", err)
	}
	clk := clock.Or(deps.Clock)
	m := &Media{
		cfg: cfg, log: logx.Component(deps.Logger, "media"), clock: clk, now: clk.Now, met: newMetrics(deps.Registerer),
		priv:     newPrivacyMetrics(deps.Registerer),
		clipsDir: filepath.Join(cfg.DataDir, "clips"),
		index:    map[string]map[string]Clip{},
	}
	m.upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 64 << 10}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	set, _ := m.plan(nil, cfg.Cameras)
	m.set.Store(set)
	for _, cc := range cfg.Cameras {
		m.index[cc.ID] = map[string]Clip{}
	}
	m.ffmpeg, m.ffReason = cameras.FindFFmpeg(cfg.FFmpegPath)
	return m, nil
}

func seconds(v, def float64) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v * float64(time.Second))
}

// Start creates the clip directories, loads the stored clips (removing leftovers of an interrupted run)
// and starts the janitor that applies retention and ends idle recordings.
func (m *Media) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.started {
		return nil
	}
	for _, c := range m.cameras() {
		if err := m.openClips(c.cfg.ID); err != nil {
			return err
		}
	}
	m.updateClipBytes()
	if m.ffReason != "" {
		m.log.Warn("snapshots unavailable", "reason", m.ffReason)
	}
	m.started = true
	m.wg.Add(1)
	go m.janitor()
	if stale := m.staleMaskedClips(); len(stale) > 0 {
		m.wg.Add(1)
		go m.remask(stale)
	}
	return nil
}

// Close ends every live viewer, finishes the clips being recorded (writing what was recorded so far),
// stops the janitor and waits for all of Media's goroutines. It is safe to call more than once.
func (m *Media) Close() {
	m.mu.Lock()
	already := m.closed
	m.closed = true
	m.mu.Unlock()
	if !already {
		m.cancel()
		for _, c := range m.cameras() {
			c.stopAll(closeShutdownReason)
		}
	}
	m.wg.Wait()
}

// track registers a goroutine with Close's wait; false after Close.
func (m *Media) track() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

// OnAccessUnit implements cameras.AccessUnitSink: it buffers au and hands it to the camera's recording
// and live viewers without blocking.
func (m *Media) OnAccessUnit(cameraID string, au cameras.AccessUnit) {
	c := m.camera(cameraID)
	if c == nil {
		m.met.dropped.WithLabelValues(dropUnknownCamera).Inc()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ownParams(&au)
	if au.Session != c.session {
		c.session = au.Session
		c.lastKey = nil
	}
	if au.Keyframe {
		k := au
		c.lastKey = &k
	}
	c.ring.push(au)
	m.ringMetrics(c)
	if c.rec != nil {
		m.feedRecording(c, au)
	}
	for v := range c.viewers {
		if !v.offer(au) {
			delete(c.viewers, v)
			m.met.dropped.WithLabelValues(dropLiveSlow).Inc()
		}
	}
}

// ownParams points au's parameter sets at the camera's own copies, made when they change: the monitor
// may rewrite its parameter set buffers in place, and Media retains access units long after the call.
// c.mu is held.
func (c *camera) ownParams(au *cameras.AccessUnit) {
	own := func(mine *[]byte, theirs []byte) []byte {
		if !bytes.Equal(*mine, theirs) {
			*mine = bytes.Clone(theirs)
		}
		return *mine
	}
	au.VPS = own(&c.vps, au.VPS)
	au.SPS = own(&c.sps, au.SPS)
	au.PPS = own(&c.pps, au.PPS)
}

// ringMetrics publishes the ring's memory and the evictions and skips since the last call. c.mu is held.
func (m *Media) ringMetrics(c *camera) {
	r := c.ring
	c.ringBytes.Set(float64(r.bytes))
	if d := r.evicted - c.seenEvict; d > 0 {
		c.evicted.Add(float64(d))
		c.seenEvict = r.evicted
	}
	if d := r.oversized - c.seenOver; d > 0 {
		m.met.dropped.WithLabelValues(dropRingOversized).Add(float64(d))
		c.seenOver = r.oversized
		m.log.Warn("GOP larger than the ring buffer: discarded", "camera", c.cfg.ID, "ring_max_bytes", m.cfg.RingMaxBytes)
	}
	if d := r.skipped - c.seenSkip; d > 0 {
		m.met.dropped.WithLabelValues(dropRingWaitKey).Add(float64(d))
		c.seenSkip = r.skipped
	}
}

// RingStats describes one camera's ring buffer.
type RingStats struct {
	// Bytes is the memory accounted to the buffered access units.
	Bytes int64
	// GOPs is the number of buffered GOPs.
	GOPs int
	// Seconds is the buffered stream time, from the oldest keyframe to the newest access unit.
	Seconds float64
	// Evicted counts GOPs evicted by the time or size bound since start.
	Evicted uint64
	// LastKeyframe is when the latest keyframe arrived; zero when the camera has no picture yet.
	LastKeyframe time.Time
}

// Ring returns the camera's ring buffer statistics.
func (m *Media) Ring(cameraID string) (RingStats, error) {
	c := m.camera(cameraID)
	if c == nil {
		return RingStats{}, ErrCameraNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := RingStats{Bytes: c.ring.bytes, GOPs: len(c.ring.gops), Evicted: c.ring.evicted}
	if n := len(c.ring.gops); n > 0 {
		s.Seconds = float64(c.ring.gops[n-1].lastPTS()-c.ring.gops[0].startPTS()) / 90000
	}
	if c.lastKey != nil {
		s.LastKeyframe = c.lastKey.Time
	}
	return s, nil
}

// janitor applies clip retention every JanitorInterval and ends idle recordings every second.
func (m *Media) janitor() {
	defer m.wg.Done()
	m.retention()
	ret := m.clock.NewTicker(m.cfg.JanitorInterval)
	defer ret.Stop()
	idle := m.clock.NewTicker(time.Second)
	defer idle.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-ret.C():
			m.retention()
		case <-idle.C():
			m.endIdleRecordings()
		}
	}
}
