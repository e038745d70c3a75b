package cameras

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"

	"citywatch/config"
	"citywatch/internal/clock"
	"citywatch/internal/reconcile"
	"citywatch/store"
)

// maxLostPerReport caps one loss report: a sequence-number jump (camera restart, garbage) is not
// 65 535 lost packets.
const maxLostPerReport = 1000

// camera is one monitored camera: its worker owns the RTSP client; RTP callbacks and the monitor's
// check and metrics loops share the state under mu.
type camera struct {
	m        *Monitor
	cfg      CameraConfig
	u        *base.URL // without userinfo
	shownURL string
	sanitize func(string) string
	labels   []store.Label
	log      *slog.Logger

	mu               sync.Mutex
	health           *Health
	connected        bool
	session          uint64
	sessionStart     time.Time
	lastPacket       time.Time
	lastFrame        time.Time
	lastKeyframe     time.Time
	lastFrameEver    time.Time
	keyframeInterval time.Duration
	win              window
	params           paramSets
	codec            string
	supported        bool
	dec264           *rtph264.Decoder
	dec265           *rtph265.Decoder
	decMJPEG         *rtpmjpeg.Decoder
	failure          Failure
	lastError        string
	lastErrorTime    time.Time
	reconnects       uint64
	outageStart      time.Time
	// afterLoss is set from a loss report until a frame decodes again: corrupt frames meanwhile are the loss's.
	afterLoss bool

	// worker runs run; Monitor.startCamera starts it under the monitor's mu, SetCameras stops it alone.
	worker reconcile.Worker
}

func newCamera(m *Monitor, cfg CameraConfig) (*camera, error) {
	u, err := base.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("camera %s: url: %q is not a valid RTSP URL", cfg.ID, redactURL(cfg.URL))
	}
	u.User = nil
	labels := []store.Label{{Name: "camera", Value: cfg.ID}}
	if cfg.Site != "" {
		labels = append(labels, store.Label{Name: "site", Value: cfg.Site})
	}
	for k, v := range cfg.Labels {
		labels = append(labels, store.Label{Name: k, Value: v})
	}
	store.SortLabels(labels)
	return &camera{
		m:        m,
		cfg:      cfg,
		u:        u,
		shownURL: redactURL(cfg.URL),
		sanitize: newSanitizer(cfg.Username, cfg.Password),
		labels:   labels,
		log:      m.log.With("camera", cfg.ID),
		health:   NewHealth(cfg.healthConfig(), m.now()),
	}, nil
}

// run connects, plays and reconnects with backoff until ctx ends.
func (c *camera) run(ctx context.Context) {
	attempt := 0
	for first := true; ; first = false {
		if !first {
			c.mu.Lock()
			c.reconnects++
			c.mu.Unlock()
			c.m.metrics.reconnects.Inc()
		}
		streamed, err := c.runSession(ctx)
		if ctx.Err() != nil {
			return
		}
		f := c.sessionEnded(err)
		if streamed {
			attempt = 0
		}
		delay := c.backoff(attempt, f)
		attempt++
		if clock.Sleep(ctx, c.m.clock, delay) != nil {
			return
		}
	}
}

// backoff is ReconnectMin×2^attempt capped at ReconnectMax, ±Jitter. Failures that retrying soon cannot
// fix (bad credentials, no video track, a wrong certificate) wait ReconnectMax right away.
func (c *camera) backoff(attempt int, f Failure) time.Duration {
	d := c.cfg.ReconnectMax
	if f.Kind != FailureUnauthorized && f.Kind != FailureNoVideo && f.Kind != FailureTLS {
		exp := math.Pow(2, float64(min(attempt, 30)))
		d = time.Duration(min(float64(c.cfg.ReconnectMax), float64(c.cfg.ReconnectMin)*exp))
	}
	j := 1 + c.cfg.Jitter*(2*rand.Float64()-1) //nolint:gosec // jitter, not crypto
	return time.Duration(float64(d) * j)
}

// tlsConfig pins the configured certificate fingerprint; nil uses the system roots.
func (c *camera) tlsConfig() *tls.Config {
	if c.cfg.TLSFingerprint == "" {
		return nil
	}
	want := config.NormalizeFingerprint(c.cfg.TLSFingerprint)
	return &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // replaced by the fingerprint check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("camera sent no TLS certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != want {
				return errTLSFingerprint
			}
			return nil
		},
	}
}

func (c *camera) transport() *gortsplib.Transport {
	var t gortsplib.Transport
	switch c.cfg.Transport {
	case TransportTCP:
		t = gortsplib.TransportTCP
	case TransportUDP:
		t = gortsplib.TransportUDP
	default:
		return nil
	}
	return &t
}

// runSession runs one RTSP session to its end. streamed reports whether the session delivered video.
func (c *camera) runSession(ctx context.Context) (streamed bool, err error) {
	timeout := 2 * c.cfg.StallTimeout
	client := &gortsplib.Client{
		Scheme:       c.u.Scheme,
		Host:         c.u.Host,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		Transport:    c.transport(),
		TLSConfig:    c.tlsConfig(),
		OnPacketsLost: func(lost uint64) {
			c.onLost(lost)
		},
		// Undecodable packets are counted, not logged: a camera sending garbage would flood the log.
		OnDecodeError: func(error) {
			c.onCorrupt()
			c.m.metrics.decodeErrors.Inc()
		},
		OnTransportSwitch: func(err error) {
			c.log.Debug("switching transport", "reason", c.sanitize(err.Error()))
		},
	}
	if err := client.Start2(); err != nil {
		return false, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			client.Close()
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
		client.Close()
	}()

	u := *c.u
	if c.cfg.Username != "" {
		u.User = url.UserPassword(c.cfg.Username, c.cfg.Password)
	}
	desc, _, err := client.Describe(&u)
	if err != nil {
		return false, err
	}
	medi, forma, err := pickVideo(desc)
	if err != nil {
		return false, err
	}
	if _, err := client.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return false, err
	}
	if err := c.prepareSession(forma); err != nil {
		return false, err
	}
	client.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		pts, ok := client.PacketPTS2(medi, pkt)
		c.onRTP(pkt, pts, ok)
	})
	if _, err := client.Play(nil); err != nil {
		return false, err
	}
	c.sessionUp()
	err = client.Wait()
	c.mu.Lock()
	streamed = !c.lastPacket.IsZero()
	c.mu.Unlock()
	return streamed, err
}

// pickVideo chooses the first H.264/H.265 track, else the first M-JPEG track, else the first video track of
// another codec.
func pickVideo(desc *description.Session) (*description.Media, format.Format, error) {
	var h264f *format.H264
	if m := desc.FindFormat(&h264f); m != nil {
		return m, h264f, nil
	}
	var h265f *format.H265
	if m := desc.FindFormat(&h265f); m != nil {
		return m, h265f, nil
	}
	var mjpegf *format.MJPEG
	if m := desc.FindFormat(&mjpegf); m != nil {
		return m, mjpegf, nil
	}
	var tracks []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			if m.Type == description.MediaTypeVideo {
				return m, f, nil
			}
			tracks = append(tracks, string(m.Type)+"/"+f.Codec())
		}
	}
	sort.Strings(tracks)
	if len(tracks) > 8 {
		tracks = append(tracks[:8], "…")
	}
	return nil, nil, fmt.Errorf("%w in the stream (tracks: %s)", errNoVideo, strings.Join(tracks, ", "))
}

// prepareSession resets per-session state and sets up the depacketizer before PLAY.
func (c *camera) prepareSession(forma format.Format) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Reset before PLAY: packets may arrive before Play returns.
	c.session++
	c.lastPacket, c.lastFrame, c.lastKeyframe = time.Time{}, time.Time{}, time.Time{}
	c.keyframeInterval = 0
	c.params = paramSets{}
	c.dec264, c.dec265, c.decMJPEG = nil, nil, nil
	c.afterLoss = false
	c.supported = true
	switch f := forma.(type) {
	case *format.H264:
		d, err := f.CreateDecoder()
		if err != nil {
			return fmt.Errorf("H.264 depacketizer: %w", err)
		}
		c.dec264, c.codec, c.params.codec = d, CodecH264, CodecH264
		sps, pps := f.SafeParams()
		c.params.inspectParams(sps, pps, nil)
	case *format.H265:
		d, err := f.CreateDecoder()
		if err != nil {
			return fmt.Errorf("H.265 depacketizer: %w", err)
		}
		c.dec265, c.codec, c.params.codec = d, CodecH265, CodecH265
		vps, sps, pps := f.SafeParams()
		c.params.inspectParams(sps, pps, vps)
	case *format.MJPEG:
		d, err := f.CreateDecoder()
		if err != nil {
			return fmt.Errorf("M-JPEG depacketizer: %w", err)
		}
		c.decMJPEG, c.codec, c.params.codec = d, CodecMJPEG, CodecMJPEG
	default:
		c.codec, c.supported = c.sanitize(forma.Codec()), false
	}
	return nil
}

// inspectParams records out-of-band parameter sets from the SDP.
func (p *paramSets) inspectParams(sps, pps, vps []byte) {
	defer func() { recover() }() //nolint:errcheck // hostile SDP parameter sets are simply not used
	if p.codec == CodecH265 {
		if len(vps) > 0 {
			p.vps = append([]byte(nil), vps...)
		}
		if len(sps) > 0 {
			p.setSPS265(sps)
		}
		if len(pps) > 2 {
			p.setPPS(pps, 2)
		}
		return
	}
	if len(sps) > 0 {
		p.setSPS264(sps)
	}
	if len(pps) > 1 {
		p.setPPS(pps, 1)
	}
}

func (c *camera) sessionUp() {
	now := c.m.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.connected = true
	c.sessionStart = now
	c.failure = Failure{}
	c.evaluateLocked(now)
}

// sessionEnded records why the session or attempt ended and re-evaluates at once, so a refused or closed
// connection shows within a tick.
func (c *camera) sessionEnded(err error) Failure {
	now := c.m.now()
	f := classify(err, c.sanitize)
	if f.Kind == FailureNone {
		f = Failure{Kind: FailureClosed, Detail: "session ended"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Detail != c.lastError {
		c.log.Debug("camera connection failed", "err", f.Detail)
	}
	c.connected = false
	c.failure = f
	c.lastError, c.lastErrorTime = f.Detail, now
	c.evaluateLocked(now)
	return f
}

func (c *camera) onLost(lost uint64) {
	now := c.m.now()
	c.mu.Lock()
	c.win.bucket(now).lost += int64(min(lost, maxLostPerReport))
	c.afterLoss = true
	c.mu.Unlock()
}

func (c *camera) onCorrupt() {
	now := c.m.now()
	c.mu.Lock()
	c.win.bucket(now).corrupt++
	c.mu.Unlock()
}

// onRTP handles one RTP packet of the video track (called by the client's reader goroutine).
func (c *camera) onRTP(pkt *rtp.Packet, pts int64, ptsOK bool) {
	now := c.m.now()
	c.mu.Lock()
	b := c.win.bucket(now)
	b.packets++
	b.bytes += int64(pkt.MarshalSize())
	c.lastPacket = now

	if c.decMJPEG != nil {
		c.onMJPEGLocked(pkt, pts, ptsOK, now, b) // unlocks
		return
	}
	var nalus [][]byte
	var err error
	switch {
	case c.dec264 != nil:
		nalus, err = c.dec264.Decode(pkt)
	case c.dec265 != nil:
		nalus, err = c.dec265.Decode(pkt)
	default:
		// A codec we do not inspect: count frames by the RTP marker bit, which ends a frame in every
		// video payload format.
		if pkt.Marker {
			b.frames++
			c.frameLocked(now)
		}
		c.mu.Unlock()
		return
	}
	if err != nil {
		if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph265.ErrMorePacketsNeeded) &&
			!errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) && !errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
			c.corruptLocked(b)
		}
		c.mu.Unlock()
		return
	}
	info, err := c.params.inspect(nalus)
	if err != nil {
		c.corruptLocked(b)
		c.mu.Unlock()
		return
	}
	b.frames++
	c.frameLocked(now)
	if info.keyframe {
		if !c.lastKeyframe.IsZero() {
			c.keyframeInterval = now.Sub(c.lastKeyframe)
		}
		c.lastKeyframe = now
	}
	sink := c.m.deps.Sink
	var au AccessUnit
	if sink != nil {
		au = AccessUnit{
			Codec: c.codec, NALUs: nalus, PTS: pts, Keyframe: info.keyframe, Time: now, Session: c.session,
			VPS: c.params.vps, SPS: c.params.sps, PPS: c.params.pps, Width: c.params.width, Height: c.params.height,
		}
		if !ptsOK {
			au.PTS = 0
		}
	}
	c.mu.Unlock()
	if sink != nil {
		sink.OnAccessUnit(c.cfg.ID, au)
	}
}

func (c *camera) frameLocked(now time.Time) {
	c.lastFrame = now
	c.lastFrameEver = now
	c.afterLoss = false
}

// corruptLocked counts a frame that could not be decoded, as the loss's when packets were lost since the last
// frame that decoded.
func (c *camera) corruptLocked(b *counts) {
	b.corrupt++
	if c.afterLoss {
		b.lossCorrupt++
	}
	c.m.metrics.corruptFrames.Inc()
}

// signalsLocked gathers the health machine inputs.
func (c *camera) signalsLocked(now time.Time) Signals {
	sig := Signals{
		Now:            now,
		Connected:      c.connected,
		SessionStart:   c.sessionStart,
		LastPacket:     c.lastPacket,
		LastKeyframe:   c.lastKeyframe,
		NominalFPS:     c.params.fps,
		Codec:          c.codec,
		CodecSupported: c.supported,
		Failure:        c.failure,
		Credentials:    c.cfg.Username != "",
	}
	if c.connected {
		w, n := c.win.sum(now, c.sessionStart)
		if n > 0 {
			sig.FPSKnown = n >= 2
			sig.FPS = float64(w.frames) / float64(n)
		}
		if exp := w.packets + w.lost; exp > 0 {
			sig.LossRatio = float64(w.lost) / float64(exp)
		}
		if all := w.frames + w.corrupt; all > 0 {
			sig.CorruptRatio = float64(w.corrupt) / float64(all)
			sig.LossCorruptRatio = float64(w.lossCorrupt) / float64(all)
		}
	}
	return sig
}

// evaluateLocked runs the health machine and emits an event on a state change.
func (c *camera) evaluateLocked(now time.Time) {
	from, _, _ := c.health.State()
	to, reason, changed := c.health.Update(c.signalsLocked(now))
	if !changed {
		return
	}
	ev := Event{CameraID: c.cfg.ID, Site: c.cfg.Site, From: from, To: to, Reason: reason, Time: now}
	switch {
	case to.Streaming() && !c.outageStart.IsZero():
		ev.OutageDuration = now.Sub(c.outageStart)
		c.outageStart = time.Time{}
	case !to.Streaming() && c.outageStart.IsZero():
		c.outageStart = now
	}
	c.log.Info("camera state changed", "from", string(from), "to", string(to), "reason", reason,
		"outage", ev.OutageDuration)
	c.m.metrics.stateChanges.WithLabelValues(string(to)).Inc()
	c.m.emit(ev)
}

func (c *camera) evaluate() {
	now := c.m.now()
	c.mu.Lock()
	c.evaluateLocked(now)
	c.mu.Unlock()
}

// status snapshots the camera for the API.
func (c *camera) status() Status {
	now := c.m.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	st, reason, since := c.health.State()
	sig := c.signalsLocked(now)
	s := Status{
		ID: c.cfg.ID, Name: c.cfg.Name, Site: c.cfg.Site, URL: c.shownURL,
		State: st, Reason: reason, Since: since,
		Codec: c.codec, Width: c.params.width, Height: c.params.height, Profile: c.params.profile,
		FPS: sig.FPS, NominalFPS: c.params.fps, PacketLossRatio: sig.LossRatio,
		KeyframeInterval: c.keyframeInterval,
		LastFrameAge:     now.Sub(c.lastFrameRef()),
		Reconnects:       c.reconnects,
		LastError:        c.lastError, LastErrorTime: c.lastErrorTime,
	}
	if len(c.cfg.Labels) > 0 {
		s.Labels = make(map[string]string, len(c.cfg.Labels))
		for k, v := range c.cfg.Labels {
			s.Labels[k] = v
		}
	}
	if c.connected {
		w, n := c.win.sum(now, c.sessionStart)
		if n > 0 {
			s.BitrateBps = float64(w.bytes*8) / float64(n)
		}
		if st.Streaming() {
			s.Uptime = now.Sub(c.sessionStart)
		}
	}
	return s
}

// lastFrameRef is the last frame time, or the monitor start when no frame arrived yet, so the frame age of a
// camera that never delivered keeps growing.
func (c *camera) lastFrameRef() time.Time {
	if c.lastFrameEver.IsZero() {
		return c.m.started
	}
	return c.lastFrameEver
}

// samples appends the camera's metric samples at now.
func (c *camera) samples(now time.Time, out []store.Sample) []store.Sample {
	s := c.status()
	t := now.UnixMilli()
	labels := append([]store.Label(nil), c.labels...)
	up := 0.0
	if s.State.Streaming() {
		up = 1
	}
	add := func(name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		out = append(out, store.Sample{Name: name, Labels: labels, T: t, V: v})
	}
	add("camera_up", up)
	add("camera_fps", s.FPS)
	add("camera_bitrate_bps", s.BitrateBps)
	if s.KeyframeInterval > 0 {
		add("camera_keyframe_interval_seconds", s.KeyframeInterval.Seconds())
	}
	add("camera_last_frame_age_seconds", s.LastFrameAge.Seconds())
	add("camera_packet_loss_ratio", s.PacketLossRatio)
	return out
}
