// Package camerasim is an RTSP server that simulates N H.264 (or H.265, or M-JPEG) cameras at
// rtsp://addr/cam1..camN, streaming an embedded clip in a loop with continuous RTP timestamps, with per-camera fault injection (stall, disconnect,
// refuse, frozen, black, motion, garbage) through SetFault, a schedule, or a small HTTP control API.
package camerasim

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// MaxCameras bounds Config.Cameras.
const MaxCameras = 1000

// Config configures the simulator.
type Config struct {
	// Listen is the RTSP listen address. It defaults to "127.0.0.1:8554"; use "127.0.0.1:0" for a free port.
	Listen string
	// UDPRTPAddress and UDPRTCPAddress, when set, enable RTP over UDP unicast on these addresses (an even
	// port and the next one, e.g. "127.0.0.1:8000" and "127.0.0.1:8001"). Empty: TCP only.
	UDPRTPAddress string
	// UDPRTCPAddress is the RTCP address that goes with UDPRTPAddress.
	UDPRTCPAddress string
	// TLSConfig, when set, makes the server speak RTSPS (rtsps:// URLs); URL then returns rtsps://.
	TLSConfig *tls.Config
	// Cameras is the number of cameras, served at /cam1../camN. It defaults to 1; at most MaxCameras.
	Cameras int
	// ControlListen is the HTTP control API listen address. Empty disables the control API.
	ControlListen string
	// Username and Password, when Username is set, are required from clients (Basic or Digest).
	Username string
	// Password is the password that goes with Username.
	Password string
	// H265 lists the 1-based numbers of cameras that stream H.265 instead of H.264. The black and motion
	// faults exist for H.264 cameras only.
	H265 []int
	// MJPEG lists the 1-based numbers of cameras that stream M-JPEG (RTP/JPEG, RFC 2435, 320x240) instead
	// of H.264. Their clips are drawn at New, including black and motion variants for those faults; Clip
	// does not apply to them.
	MJPEG []int
	// Schedule applies faults at offsets from Start.
	Schedule []ScheduledFault
	// ScheduleRepeat, when > 0, replays Schedule every ScheduleRepeat (for demos). It must be longer than
	// the largest At. It defaults to 0: the schedule runs once.
	ScheduleRepeat time.Duration
	// Clip, when set, is an H.264 Annex-B stream (every access unit starting with an AUD, SPS/PPS in band)
	// that H.264 cameras stream in a loop instead of the embedded 640x360 clip, e.g. a 720p clip for load
	// tests. The black and motion faults still switch to the embedded clips. Empty: the embedded clip.
	Clip []byte
	// ClipFPS is the frame rate at which every camera is paced (and RTP timestamps advance). It defaults to
	// FPS (the embedded clips' rate); set it to Clip's rate when Clip is set. At most 120.
	ClipFPS int
	// Clock paces the cameras and times fault durations and the schedule. It defaults to the real clock;
	// tests pass a clock.Fake to step the streams frame by frame.
	Clock clock.Clock
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8554"
	}
	if c.Cameras == 0 {
		c.Cameras = 1
	}
	if c.ClipFPS == 0 {
		c.ClipFPS = FPS
	}
	c.Clock = clock.Or(c.Clock)
}

func (c *Config) codec(n int) string {
	if slices.Contains(c.H265, n) {
		return CodecH265
	}
	if slices.Contains(c.MJPEG, n) {
		return CodecMJPEG
	}
	return CodecH264
}

func (c *Config) checkCodecFault(n int, f Fault) error {
	if c.codec(n) == CodecH265 && (f.Kind == FaultBlack || f.Kind == FaultMotion) {
		return fmt.Errorf("camera %d streams H.265: the %s clip exists for H.264 cameras only", n, f.Kind)
	}
	return nil
}

func (c *Config) validate() error {
	if c.Cameras < 1 || c.Cameras > MaxCameras {
		return fmt.Errorf("cameras: must be 1..%d, got %d", MaxCameras, c.Cameras)
	}
	if c.ClipFPS < 1 || c.ClipFPS > 120 {
		return fmt.Errorf("clip_fps: must be 1..120, got %d", c.ClipFPS)
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("password set without username")
	}
	for i, n := range c.H265 {
		if n < 1 || n > c.Cameras {
			return fmt.Errorf("h265[%d]: must be 1..%d, got %d", i, c.Cameras, n)
		}
	}
	for i, n := range c.MJPEG {
		if n < 1 || n > c.Cameras {
			return fmt.Errorf("mjpeg[%d]: must be 1..%d, got %d", i, c.Cameras, n)
		}
		if slices.Contains(c.H265, n) {
			return fmt.Errorf("mjpeg[%d]: camera %d is also listed in h265", i, n)
		}
	}
	var maxAt time.Duration
	for i, sf := range c.Schedule {
		if sf.Camera < 1 || sf.Camera > c.Cameras {
			return fmt.Errorf("schedule[%d].camera: must be 1..%d, got %d", i, c.Cameras, sf.Camera)
		}
		if sf.At < 0 {
			return fmt.Errorf("schedule[%d].at: must be >= 0, got %q", i, sf.At)
		}
		if err := sf.Fault.Validate(); err != nil {
			return fmt.Errorf("schedule[%d].fault: %w", i, err)
		}
		if err := c.checkCodecFault(sf.Camera, sf.Fault); err != nil {
			return fmt.Errorf("schedule[%d].fault: %w", i, err)
		}
		maxAt = max(maxAt, sf.At)
	}
	if c.ScheduleRepeat < 0 || (c.ScheduleRepeat > 0 && c.ScheduleRepeat <= maxAt) {
		return fmt.Errorf("schedule_repeat: must be 0 or longer than the last fault's at (%s), got %q", maxAt, c.ScheduleRepeat)
	}
	return nil
}

// Server is the camera simulator.
type Server struct {
	cfg   Config
	log   *slog.Logger
	clips *clips
	cams  []*camera
	sent  atomic.Uint64 // access units sent, all cameras

	rtsp    *gortsplib.Server
	rtspLn  net.Listener
	ctrl    *http.Server
	ctrlLn  net.Listener
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	started bool
	closed  bool
}

// New validates cfg and prepares a Server. A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("camerasim: %w", err)
	}
	cs, err := loadClips()
	if err != nil {
		return nil, err
	}
	if len(cfg.Clip) > 0 {
		if cs.normal, err = parseClip(cfg.Clip, CodecH264); err != nil {
			return nil, fmt.Errorf("camerasim: clip: %w", err)
		}
	}
	if len(cfg.MJPEG) > 0 {
		if cs.mjpeg, err = newMJPEGClips(); err != nil {
			return nil, err
		}
	}
	for _, cl := range []*clip{cs.normal, cs.black, cs.motion, cs.h265} {
		if err := packetize(cl); err != nil {
			return nil, err
		}
	}
	if cs.mjpeg != nil {
		for _, cl := range []*clip{cs.mjpeg.normal, cs.mjpeg.black, cs.mjpeg.motion} {
			if err := packetize(cl); err != nil {
				return nil, err
			}
		}
	}
	// The schedule runs in time order.
	cfg.Schedule = slices.Clone(cfg.Schedule)
	slices.SortStableFunc(cfg.Schedule, func(a, b ScheduledFault) int { return cmp.Compare(a.At, b.At) })
	s := &Server{cfg: cfg, log: logx.Component(logger, "camerasim"), clips: cs}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start listens and starts streaming. It returns once the RTSP (and control) listeners are bound.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("camerasim: Start called twice or after Close")
	}
	s.started = true

	h := &handler{s: s}
	s.rtsp = &gortsplib.Server{
		Handler:        h,
		RTSPAddress:    s.cfg.Listen,
		UDPRTPAddress:  s.cfg.UDPRTPAddress,
		UDPRTCPAddress: s.cfg.UDPRTCPAddress,
		TLSConfig:      s.cfg.TLSConfig,
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			s.rtspLn = ln
			return ln, err
		},
	}
	if err := s.rtsp.Start(); err != nil {
		return fmt.Errorf("camerasim: rtsp listen %s: %w", s.cfg.Listen, err)
	}
	for i := 1; i <= s.cfg.Cameras; i++ {
		c, err := newCamera(s, i, s.cfg.codec(i))
		if err != nil {
			s.stopLocked()
			return err
		}
		s.cams = append(s.cams, c)
	}
	if s.cfg.ControlListen != "" {
		ln, err := net.Listen("tcp", s.cfg.ControlListen)
		if err != nil {
			s.stopLocked()
			return fmt.Errorf("camerasim: control listen %s: %w", s.cfg.ControlListen, err)
		}
		s.ctrlLn = ln
		s.ctrl = &http.Server{Handler: s.controlHandler(), ReadHeaderTimeout: 5 * time.Second}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.ctrl.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("control API stopped", "err", err)
			}
		}()
	}
	for _, c := range s.cams {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.run(s.ctx)
		}()
	}
	if len(s.cfg.Schedule) > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runSchedule(s.ctx)
		}()
	}
	s.log.Info("camera simulator started", "rtsp", s.rtspLn.Addr().String(), "cameras", s.cfg.Cameras,
		"control", s.ControlAddr(), "auth", s.cfg.Username != "")
	return nil
}

// Close stops streaming, closes every session and listener, and waits for its goroutines. It is safe to
// call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.stopLocked()
}

func (s *Server) stopLocked() {
	s.cancel()
	if s.ctrl != nil {
		s.ctrl.Close() //nolint:errcheck // closing; nothing to do with the error
	}
	s.wg.Wait()
	for _, c := range s.cams {
		c.stream.Close()
	}
	if s.rtsp != nil && s.rtspLn != nil {
		s.rtsp.Close()
	}
}

// Addr returns the bound RTSP address (host:port), or "" before Start.
func (s *Server) Addr() string {
	if s.rtspLn == nil {
		return ""
	}
	return s.rtspLn.Addr().String()
}

// ControlAddr returns the bound control API address, or "" when it is disabled or not started.
func (s *Server) ControlAddr() string {
	if s.ctrlLn == nil {
		return ""
	}
	return s.ctrlLn.Addr().String()
}

// URL returns the RTSP URL of camera n (1-based), without credentials.
func (s *Server) URL(n int) string {
	scheme := "rtsp://"
	if s.cfg.TLSConfig != nil {
		scheme = "rtsps://"
	}
	return scheme + s.Addr() + "/cam" + strconv.Itoa(n)
}

// SetFault applies f to camera n (1-based), replacing any current fault. It returns an error for an unknown
// camera or an invalid fault, or before Start.
func (s *Server) SetFault(n int, f Fault) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("camerasim: %w", err)
	}
	c := s.camera(n)
	if c == nil {
		return fmt.Errorf("camerasim: no camera %d (have %d)", n, len(s.cams))
	}
	if err := s.cfg.checkCodecFault(n, f); err != nil {
		return fmt.Errorf("camerasim: %w", err)
	}
	c.setFault(f)
	s.log.Info("fault set", "camera", n, "kind", string(f.Kind), "duration", f.Duration)
	return nil
}

// FaultStatus describes a camera's current fault.
type FaultStatus struct {
	// Camera is the 1-based camera number.
	Camera int `json:"camera"`
	// Path is the RTSP path, e.g. "/cam1".
	Path string `json:"path"`
	// Kind is the active fault.
	Kind FaultKind `json:"kind"`
	// Until is when the fault ends; zero when it lasts until changed.
	Until time.Time `json:"until,omitzero"`
	// Sessions is the number of open RTSP sessions.
	Sessions int `json:"sessions"`
}

// Faults returns every camera's current fault.
func (s *Server) Faults() []FaultStatus {
	out := make([]FaultStatus, 0, len(s.cams))
	for _, c := range s.cams {
		out = append(out, c.status(s.cfg.Clock.Now()))
	}
	return out
}

func (s *Server) camera(n int) *camera {
	if n < 1 || n > len(s.cams) {
		return nil
	}
	return s.cams[n-1]
}

// cameraByPath maps "/cam3" (or "cam3") to camera 3.
func (s *Server) cameraByPath(path string) *camera {
	p := strings.TrimPrefix(path, "/")
	num, ok := strings.CutPrefix(p, "cam")
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(num)
	if err != nil || strconv.Itoa(n) != num {
		return nil
	}
	return s.camera(n)
}

func (s *Server) runSchedule(ctx context.Context) {
	clk := s.cfg.Clock
	start := clk.Now()
	for period := 0; ; period++ {
		base := start.Add(time.Duration(period) * s.cfg.ScheduleRepeat)
		for _, sf := range s.cfg.Schedule {
			t := clk.NewTimer(base.Add(sf.At).Sub(clk.Now()))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
			if err := s.SetFault(sf.Camera, sf.Fault); err != nil {
				s.log.Error("scheduled fault", "camera", sf.Camera, "err", err)
			}
		}
		if s.cfg.ScheduleRepeat <= 0 {
			return
		}
	}
}

// handler implements the gortsplib server callbacks.
type handler struct {
	s *Server
}

func (h *handler) authorize(conn *gortsplib.ServerConn, req *base.Request) bool {
	if h.s.cfg.Username == "" {
		return true
	}
	return conn.VerifyCredentials(req, h.s.cfg.Username, h.s.cfg.Password)
}

// camera answers a DESCRIBE or SETUP of path: the camera when the request is authorized, the camera exists
// and admits conn, else the response refusing it (and its error).
func (h *handler) camera(conn *gortsplib.ServerConn, req *base.Request, path string) (*camera, *base.Response, error) {
	if !h.authorize(conn, req) {
		return nil, &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	c := h.s.cameraByPath(path)
	if c == nil {
		return nil, &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	if res, err := c.admit(conn); res != nil {
		return nil, res, err
	}
	return c, nil, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c, res, err := h.camera(ctx.Conn, ctx.Request, ctx.Path)
	if c == nil {
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c, res, err := h.camera(ctx.Conn, ctx.Request, ctx.Path)
	if c == nil {
		return res, nil, err
	}
	c.addSession(ctx.Session)
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (h *handler) OnPlay(_ *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	for _, c := range h.s.cams {
		c.removeSession(ctx.Session)
	}
}

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError (so gortsplib does not log).
func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	h.s.log.Debug("stream write error", "err", ctx.Error)
}

// OnPacketsLost implements gortsplib.ServerHandlerOnPacketsLost.
func (h *handler) OnPacketsLost(*gortsplib.ServerHandlerOnPacketsLostCtx) {}

// OnDecodeError implements gortsplib.ServerHandlerOnDecodeError.
func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	h.s.log.Debug("decode error", "err", ctx.Error)
}

// controlHandler serves the HTTP control API:
//
//	GET  /cameras                 current faults (JSON)
//	POST /cameras/{n}/fault       {"kind":"stall","duration":"10s"} → 204
func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cameras", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("POST /cameras/{n}/fault", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || s.camera(n) == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such camera"})
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxFaultBody+1))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading body: " + err.Error()})
			return
		}
		if len(body) > maxFaultBody {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
			return
		}
		f, err := parseFaultJSON(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := s.SetFault(n, f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// newStream builds the camera's SDP: one video track with the clip's parameter sets.
func newStream(srv *gortsplib.Server, cl *clip) (*gortsplib.ServerStream, *description.Media, error) {
	forma, _, err := newFormat(cl)
	if err != nil {
		return nil, nil, err
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	st := &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{medi}}}
	if err := st.Initialize(); err != nil {
		return nil, nil, fmt.Errorf("camerasim: stream: %w", err)
	}
	return st, medi, nil
}

// newFormat is the RTP format of cl's codec and a packetizer for it.
func newFormat(cl *clip) (format.Format, encoder, error) {
	var forma format.Format
	var enc encoder
	var err error
	switch cl.codec {
	case CodecMJPEG:
		f := &format.MJPEG{}
		forma = f
		var e mjpegEncoder
		e.enc, err = f.CreateEncoder()
		enc = e
	case CodecH265:
		f := &format.H265{PayloadTyp: 96, VPS: cl.vps, SPS: cl.sps, PPS: cl.pps}
		forma = f
		enc, err = f.CreateEncoder()
	default:
		f := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: cl.sps, PPS: cl.pps}
		forma = f
		enc, err = f.CreateEncoder()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("camerasim: encoder: %w", err)
	}
	return forma, enc, nil
}

// FramesSent is the number of access units sent by all cameras since Start, whether or not anyone plays
// them. Load tests use it to tell a simulator that cannot keep its frame clock (it sends fewer than
// Cameras × ClipFPS per second) from a reader that falls behind.
func (s *Server) FramesSent() uint64 { return s.sent.Load() }
