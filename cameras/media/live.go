package media

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"citywatch/cameras"
)

// Close codes and reasons sent to live viewers.
const (
	closeSlowReason     = "viewer too slow"
	closeShutdownReason = "server shutting down"
)

// initMessage is the TEXT message that precedes every init segment.
type initMessage struct {
	Type string `json:"type"` // always "init"
	MIME string `json:"mime"` // e.g. video/mp4; codecs="avc1.42c01e"
}

// viewer is one live view client. The camera's mutex guards waitKey; q and killed are safe for concurrent
// use.
type viewer struct {
	q        chan cameras.AccessUnit
	waitKey  bool
	killOnce sync.Once
	killed   chan struct{}
	code     int
	reason   string
}

func newViewer(n int) *viewer {
	return &viewer{q: make(chan cameras.AccessUnit, n), killed: make(chan struct{})}
}

// kill ends the viewer with a close code and reason; the first call wins.
func (v *viewer) kill(code int, reason string) {
	v.killOnce.Do(func() {
		v.code, v.reason = code, reason
		close(v.killed)
	})
}

// offer queues au without blocking; false means the queue was full and the viewer was killed.
func (v *viewer) offer(au cameras.AccessUnit) bool {
	if v.waitKey {
		if !au.Keyframe {
			return true
		}
		v.waitKey = false
	}
	select {
	case v.q <- au:
		return true
	default:
		v.kill(websocket.CloseTryAgainLater, closeSlowReason)
		return false
	}
}

// ServeLive streams the camera as fragmented MP4 over a WebSocket for Media Source Extensions, and
// returns when the viewer leaves, is dropped, or Media closes. Before upgrading it answers JSON errors:
// 404 for an unknown camera, 503 when the camera has no picture yet or Media is closing. An M-JPEG camera
// has no live view (browsers cannot play M-JPEG through MSE, and its snapshot already is its latest
// frame): see refuseLive. After the
// upgrade it sends, for each (new) session of the camera:
//
//   - a TEXT message {"type":"init","mime":"video/mp4; codecs=\"avc1.PPCCLL\""} (hvc1.* for H.265),
//   - a BINARY message with the init segment (ftyp+moov),
//
// then one BINARY message per access unit, each a fragment (moof+mdat) whose baseMediaDecodeTime (90 kHz
// timescale) continues the viewer's timeline, starting at 0 at the most recent keyframe in the ring
// buffer. A viewer whose send queue fills up is closed with code 1013 "viewer too slow"; on shutdown the
// code is 1001. Authentication, authorization and auditing are the caller's: wrap the handler.
func (m *Media) ServeLive(w http.ResponseWriter, r *http.Request, cameraID string) {
	c := m.camera(cameraID)
	if c == nil {
		writeJSONError(w, http.StatusNotFound, "camera not found")
		return
	}
	if !c.cfg.PrivacyMask.Empty() && !UnmaskedAllowed(r.Context()) {
		m.refuseLive(w, r, http.StatusForbidden, ErrLiveMasked.Error(), websocket.ClosePolicyViolation, closeMaskedReason)
		return
	}
	c.mu.Lock()
	if c.lastKey == nil {
		c.mu.Unlock()
		writeJSONError(w, http.StatusServiceUnavailable, "camera has no picture yet")
		return
	}
	if c.lastKey.Codec == cameras.CodecMJPEG {
		c.mu.Unlock()
		m.refuseLive(w, r, http.StatusUnsupportedMediaType, ErrLiveUnsupported.Error(),
			websocket.CloseUnsupportedData, closeUnsupportedReason)
		return
	}
	if !m.track() {
		c.mu.Unlock()
		writeJSONError(w, http.StatusServiceUnavailable, "media is shutting down")
		return
	}
	defer m.wg.Done()
	v := newViewer(m.cfg.LiveQueueFrames)
	gop := c.ring.latestGOP()
	if len(gop) == 0 || gop[0].PTS != c.lastKey.PTS || len(gop) > m.cfg.LiveQueueFrames/2 {
		// Start at the keyframe alone and resume at the next one.
		gop = []cameras.AccessUnit{*c.lastKey}
		v.waitKey = true
	}
	for _, au := range gop {
		v.q <- au
	}
	c.viewers[v] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.viewers, v)
		c.mu.Unlock()
	}()

	conn, err := m.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the request
	}
	m.met.liveViewers.Inc()
	defer m.met.liveViewers.Dec()
	readDone := make(chan struct{})
	go func() { // reads (and discards) client messages so control frames and disconnects are seen
		defer close(readDone)
		conn.SetReadLimit(4096)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	writerDone := make(chan struct{})
	watchDone := make(chan struct{})
	go func() { // a killed viewer whose writer is stuck in a write is disconnected after a grace period
		defer close(watchDone)
		select {
		case <-writerDone:
		case <-v.killed:
			select {
			case <-writerDone:
			case <-time.After(killGrace):
				_ = conn.Close()
			}
		}
	}()
	m.log.Debug("live viewer connected", "camera", cameraID, "remote", r.RemoteAddr)
	reason := m.streamLive(conn, v, readDone)
	close(writerDone)
	<-watchDone
	_ = conn.Close()
	<-readDone
	select {
	case <-v.killed:
		if v.reason == closeSlowReason {
			m.log.Warn("live viewer dropped: too slow", "camera", cameraID, "remote", r.RemoteAddr,
				"queue_frames", m.cfg.LiveQueueFrames)
			return
		}
	default:
	}
	m.log.Debug("live viewer left", "camera", cameraID, "why", reason)
}

// killGrace is how long a killed viewer's writer may take to send its close message.
const killGrace = time.Second

// streamLive writes the viewer's queue to conn until the client goes away or the viewer is killed, and
// returns why it stopped.
func (m *Media) streamLive(conn *websocket.Conn, v *viewer, readDone <-chan struct{}) string {
	var (
		frag fragmenter
		seq  uint32
	)
	write := func(typ int, b []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(m.cfg.LiveWriteTimeout))
		return conn.WriteMessage(typ, b)
	}
	sendFragment := func(s *timedSample) error {
		seq++
		b, err := marshalPart(seq, []*timedSample{s})
		if err != nil {
			return err
		}
		return write(websocket.BinaryMessage, b)
	}
	for {
		select {
		case <-readDone:
			return "client closed"
		case <-v.killed:
			msg := websocket.FormatCloseMessage(v.code, v.reason)
			_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return v.reason
		case au := <-v.q:
			if frag.sessionChanged(au) {
				if !au.Keyframe {
					m.met.dropped.WithLabelValues(dropLiveWaitKey).Inc()
					continue
				}
				if p := frag.flush(); p != nil {
					if err := sendFragment(p); err != nil {
						return "write: " + err.Error()
					}
				}
				if err := m.sendInit(write, au); err != nil {
					return "init: " + err.Error()
				}
				frag.reset(au)
			}
			s, err := frag.add(au)
			if err != nil {
				m.met.dropped.WithLabelValues(dropLiveBadFrame).Inc()
				continue
			}
			if s != nil {
				if err := sendFragment(s); err != nil {
					return "write: " + err.Error()
				}
			}
		}
	}
}

func (m *Media) sendInit(write func(int, []byte) error, au cameras.AccessUnit) error {
	mime, err := mimeType(au)
	if err != nil {
		return err
	}
	init, err := initSegment(au)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(initMessage{Type: "init", MIME: mime})
	if err != nil {
		return err
	}
	if err := write(websocket.TextMessage, msg); err != nil {
		return err
	}
	return write(websocket.BinaryMessage, init)
}

// writeJSONError answers {"error": msg} with status.
// closeUnsupportedReason is the close reason for an M-JPEG live view (at most 123 bytes).
const closeUnsupportedReason = "live view not supported for MJPEG; the snapshot is the latest frame"

// refuseLive answers a live view request that cannot be served (an M-JPEG camera: 415, close code 1003; a
// privacy-masked camera for a viewer without the unmasked grant: 403, close code 1008): status with msg as
// JSON to a plain request; a WebSocket handshake is completed so that a browser, which never sees the HTTP
// status of a failed handshake, gets the reason: a TEXT {"type":"error","error":msg} message, then the close
// code with reason. No video is sent.
func (m *Media) refuseLive(w http.ResponseWriter, r *http.Request, status int, msg string, code int, reason string) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeJSONError(w, status, msg)
		return
	}
	conn, err := m.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the request
	}
	defer conn.Close()
	deadline := time.Now().Add(m.cfg.LiveWriteTimeout)
	_ = conn.SetWriteDeadline(deadline)
	b, _ := json.Marshal(map[string]string{"type": "error", "error": msg})
	if conn.WriteMessage(websocket.TextMessage, b) != nil {
		return
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
