package camerasim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"
)

// camera is one simulated camera: a stream, its pacer, its fault and its sessions.
type camera struct {
	s      *Server
	n      int
	stream *gortsplib.ServerStream
	media  *description.Media
	codec  string
	rnd    *rand.Rand
	seq    uint16     // the next RTP sequence number
	pkt    rtp.Packet // the packet being written: a clip's shared packet with this camera's header fields

	mu       sync.Mutex
	fault    Fault
	until    time.Time // zero: until changed
	sessions map[*gortsplib.ServerSession]struct{}
}

// encoder packetizes access units.
type encoder interface {
	Encode(au [][]byte) ([]*rtp.Packet, error)
}

// packetize packetizes every access unit of cl once, into cl.pkts: cameras send copies of these packets with
// their own sequence numbers and timestamps, so the frame clock of N cameras costs no encoding and no
// allocation of payloads.
func packetize(cl *clip) error {
	if cl == nil || cl.pkts != nil {
		return nil
	}
	_, enc, err := newFormat(cl)
	if err != nil {
		return err
	}
	cl.pkts = make([][]*rtp.Packet, len(cl.aus))
	for i, au := range cl.aus {
		if cl.pkts[i], err = enc.Encode(au); err != nil {
			return fmt.Errorf("camerasim: packetize access unit %d: %w", i, err)
		}
	}
	return nil
}

func newCamera(s *Server, n int, codec string) (*camera, error) {
	cl, _, _ := s.clips.forCodec(codec)
	st, medi, err := newStream(s.rtsp, cl)
	if err != nil {
		return nil, err
	}
	c := &camera{
		s: s, n: n, stream: st, media: medi, codec: codec,
		// A fixed seed per camera keeps garbage payloads reproducible between runs.
		rnd:      rand.New(rand.NewPCG(uint64(n), 0x6361_6d65_7261)), //nolint:gosec // test data, not crypto
		fault:    Fault{Kind: FaultNone},
		sessions: make(map[*gortsplib.ServerSession]struct{}),
	}
	c.seq = uint16(c.rnd.Uint32())
	return c, nil
}

// currentFault returns the active fault, expiring a timed one.
func (c *camera) currentFault(now time.Time) FaultKind {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.until.IsZero() && !now.Before(c.until) {
		c.fault = Fault{Kind: FaultNone}
		c.until = time.Time{}
	}
	return c.fault.Kind
}

func (c *camera) setFault(f Fault) {
	c.mu.Lock()
	c.fault = f
	c.until = time.Time{}
	if f.Duration > 0 {
		c.until = c.s.cfg.Clock.Now().Add(f.Duration)
	}
	var drop []*gortsplib.ServerSession
	if f.Kind == FaultDisconnect || f.Kind == FaultRefuse {
		for ss := range c.sessions {
			drop = append(drop, ss)
		}
	}
	c.mu.Unlock()
	// Closing a session closes its TCP connection too: the client sees the camera drop it.
	for _, ss := range drop {
		ss.Close()
	}
}

func (c *camera) status(now time.Time) FaultStatus {
	kind := c.currentFault(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	return FaultStatus{Camera: c.n, Path: "/cam" + strconv.Itoa(c.n), Kind: kind, Until: c.until, Sessions: len(c.sessions)}
}

// admit decides whether a new request may proceed under the current fault. A nil response means yes.
func (c *camera) admit(conn *gortsplib.ServerConn) (*base.Response, error) {
	switch c.currentFault(c.s.cfg.Clock.Now()) {
	case FaultRefuse:
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
	case FaultDisconnect:
		// Drop the TCP connection without an answer, like a camera that fell off the network mid-request.
		conn.NetConn().Close() //nolint:errcheck // closing on purpose
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, liberrors.ErrServerTerminated{}
	}
	return nil, nil
}

func (c *camera) addSession(ss *gortsplib.ServerSession) {
	c.mu.Lock()
	c.sessions[ss] = struct{}{}
	c.mu.Unlock()
}

func (c *camera) removeSession(ss *gortsplib.ServerSession) {
	c.mu.Lock()
	delete(c.sessions, ss)
	c.mu.Unlock()
}

// run paces access units at the clip frame rate until ctx ends. Frame k falls due at start + k periods: a tick
// sends every frame due by then, so ticks the ticker dropped while the process was starved of CPU delay frames
// but do not lose them. RTP timestamps advance with every due frame, whatever is sent, so they stay
// continuous across loops, clip switches and stalls.
func (c *camera) run(ctx context.Context) {
	clk := c.s.cfg.Clock
	fps := uint64(c.s.cfg.ClipFPS)
	period := time.Second / time.Duration(fps)
	start := clk.Now()
	ticker := clk.NewTicker(period)
	defer ticker.Stop()

	baseTS := c.rnd.Uint32()
	var tick uint64
	var p pacer
	p.normal, p.black, p.motion = c.s.clips.forCodec(c.codec)
	p.cur, p.pos = p.normal, p.normal.keyframe
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
		// At most a second of frames is sent at once: a simulator starved for longer skips the rest (their RTP
		// time still passes, FramesSent shows the loss) rather than flooding its readers.
		due := uint64(clk.Since(start) / period)
		if due > tick+fps {
			tick = due - fps
		}
		for tick < due {
			tick++
			// A fault's end is judged by when the frame was due.
			c.send(&p, tick, start.Add(time.Duration(tick)*period), baseTS+uint32(tick*clockRate/fps))
		}
	}
}

// clockRate is the RTP clock rate of every simulated stream.
const clockRate = 90000

// pacer is where a camera is in its clips.
type pacer struct {
	normal, black, motion *clip // black and motion are nil when the codec has none
	cur                   *clip
	pos                   int
}

// send sends the access unit due at now (RTP time ts), or nothing under a fault that sends nothing.
func (c *camera) send(p *pacer, tick uint64, now time.Time, ts uint32) {
	kind := c.currentFault(now)
	want := p.normal
	switch kind {
	case FaultBlack:
		if p.black != nil {
			want = p.black
		}
	case FaultMotion:
		if p.motion != nil {
			want = p.motion
		}
	}
	cur := p.cur
	if want != cur {
		// Switch at a keyframe so a decoder can follow.
		cur = want
		p.cur, p.pos = want, want.keyframe
	}

	var i int
	switch kind {
	case FaultStall, FaultDisconnect, FaultRefuse:
		return
	case FaultLowFPS:
		if tick%lowFPSDivisor != 0 {
			return
		}
		i = p.pos
		p.pos = (p.pos + 1) % len(cur.aus)
	case FaultFrozen:
		i = cur.keyframe
	default:
		i = p.pos
		p.pos = (p.pos + 1) % len(cur.aus)
	}

	c.s.sent.Add(1)
	for _, tmpl := range cur.pkts[i] {
		c.pkt = *tmpl // the header fields are this camera's; the payload stays shared and is never written
		c.pkt.SequenceNumber = c.seq
		c.seq++
		c.pkt.Timestamp = ts
		if kind == FaultGarbage {
			c.garble(&c.pkt)
		}
		if kind == FaultLoss && c.rnd.Float64() < lossRatio {
			continue // the sequence number is used up: the receiver sees a gap
		}
		// A write error means a slow reader; gortsplib reports it through OnStreamWriteError.
		c.stream.WritePacketRTPWithNTP(c.media, &c.pkt, now) //nolint:errcheck
	}
}

// garble replaces the payload with random bytes of the same length, keeping the RTP header valid.
func (c *camera) garble(pkt *rtp.Packet) {
	b := make([]byte, len(pkt.Payload))
	for i := range b {
		b[i] = byte(c.rnd.Uint32())
	}
	pkt.Payload = b
}
