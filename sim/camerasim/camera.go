package camerasim

import (
	"context"
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
	enc    encoder
	rnd    *rand.Rand

	mu       sync.Mutex
	fault    Fault
	until    time.Time // zero: until changed
	sessions map[*gortsplib.ServerSession]struct{}
}

// encoder packetizes access units.
type encoder interface {
	Encode(au [][]byte) ([]*rtp.Packet, error)
}

func newCamera(s *Server, n int, codec string) (*camera, error) {
	cl, _, _ := s.clips.forCodec(codec)
	st, medi, enc, err := newStream(s.rtsp, cl)
	if err != nil {
		return nil, err
	}
	return &camera{
		s: s, n: n, stream: st, media: medi, enc: enc, codec: codec,
		// A fixed seed per camera keeps garbage payloads reproducible between runs.
		rnd:      rand.New(rand.NewPCG(uint64(n), 0x6361_6d65_7261)), //nolint:gosec // test data, not crypto
		fault:    Fault{Kind: FaultNone},
		sessions: make(map[*gortsplib.ServerSession]struct{}),
	}, nil
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

// run paces access units at the clip frame rate until ctx ends. RTP timestamps advance with every tick,
// whatever is sent, so they stay continuous across loops, clip switches and stalls.
func (c *camera) run(ctx context.Context) {
	const clockRate = 90000
	fps := uint64(c.s.cfg.ClipFPS)
	period := time.Second / time.Duration(fps)
	ticker := c.s.cfg.Clock.NewTicker(period)
	defer ticker.Stop()

	baseTS := c.rnd.Uint32()
	var tick uint64
	normal, black, motion := c.s.clips.forCodec(c.codec)
	cur := normal
	pos := cur.keyframe
	for {
		var now time.Time // the tick's own time: a fault's end is judged by when the frame was due
		select {
		case <-ctx.Done():
			return
		case now = <-ticker.C():
		}
		tick++
		ts := baseTS + uint32(tick*clockRate/fps)

		kind := c.currentFault(now)
		want := normal
		switch kind {
		case FaultBlack:
			if black != nil {
				want = black
			}
		case FaultMotion:
			if motion != nil {
				want = motion
			}
		}
		if want != cur {
			// Switch at a keyframe so a decoder can follow.
			cur, pos = want, want.keyframe
		}

		var au [][]byte
		switch kind {
		case FaultStall, FaultDisconnect, FaultRefuse:
			continue
		case FaultLowFPS:
			if tick%lowFPSDivisor != 0 {
				continue
			}
			au = cur.aus[pos]
			pos = (pos + 1) % len(cur.aus)
		case FaultFrozen:
			au = cur.aus[cur.keyframe]
		default:
			au = cur.aus[pos]
			pos = (pos + 1) % len(cur.aus)
		}

		pkts, err := c.enc.Encode(au)
		if err != nil {
			c.s.log.Error("encode", "camera", c.n, "err", err)
			continue
		}
		c.s.sent.Add(1)
		for _, pkt := range pkts {
			pkt.Timestamp = ts
			if kind == FaultGarbage {
				c.garble(pkt)
			}
			if kind == FaultLoss && c.rnd.Float64() < lossRatio {
				continue // the sequence number is used up: the receiver sees a gap
			}
			// A write error means a slow reader; gortsplib reports it through OnStreamWriteError.
			c.stream.WritePacketRTPWithNTP(c.media, pkt, now) //nolint:errcheck
		}
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
