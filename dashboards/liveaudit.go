package dashboards

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"citywatch/dashboards/audit"
)

// A page retries a live view that the server refuses (the camera has no picture yet, the media layer is
// restarting) with backoff. Recording a start and a "watched 0s" stop per retry floods the audit log with
// viewings that never happened, so a live view is recorded by what it became: a stream that started leaves a
// start record when it starts and a stop record when it ends; a refused attempt leaves one failed start
// record per series of refusals of that camera to that actor, a series ending with a stream that starts or
// after liveFailWindow. The refused attempts are what the client does; nothing the client says decides what
// is recorded.

const (
	// liveFailWindow is how long a series of refused live views of one camera by one actor is one record.
	liveFailWindow = 10 * time.Minute
	// liveFailSeries bounds the series remembered (actors × cameras).
	liveFailSeries = 4096
)

// attemptSeries remembers which (actor, camera) keys have a failure series running, bounded.
type attemptSeries struct {
	mu     sync.Mutex
	cap    int
	window time.Duration
	now    func() time.Time
	seen   map[string]series // key → its running series
	seq    uint64            // series started so far: orders them when all are current
}

// series is one running failure series: when and in which order it started.
type series struct {
	at  time.Time
	seq uint64
}

func newAttemptSeries(capacity int, window time.Duration, now func() time.Time) *attemptSeries {
	if now == nil {
		now = time.Now
	}
	return &attemptSeries{cap: capacity, window: window, now: now, seen: map[string]series{}}
}

// fail notes a failed attempt and reports whether it starts a new series (and is to be recorded).
func (a *attemptSeries) fail(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if sr, ok := a.seen[key]; ok && now.Sub(sr.at) < a.window {
		return false
	}
	if len(a.seen) >= a.cap {
		// Forget expired series first; if all are current, forget the oldest: at worst an extra record for
		// it. The scan is bounded by the cap and happens only when the memory is full.
		oldest, oldestKey := uint64(0), ""
		for k, sr := range a.seen {
			if now.Sub(sr.at) >= a.window {
				delete(a.seen, k)
			} else if oldestKey == "" || sr.seq < oldest {
				oldest, oldestKey = sr.seq, k
			}
		}
		if len(a.seen) >= a.cap {
			delete(a.seen, oldestKey)
		}
	}
	a.seq++
	a.seen[key] = series{at: now, seq: a.seq}
	return true
}

// succeed ends key's series.
func (a *attemptSeries) succeed(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.seen, key)
}

// streamWatch tells whether a handler started a stream: it upgraded the connection (WebSocket) or answered
// with a success status. onStart runs once, when it does.
type streamWatch struct {
	http.ResponseWriter
	code    int
	started bool
	onStart func()
}

func (w *streamWatch) start() {
	if !w.started {
		w.started = true
		w.onStart()
	}
}

func (w *streamWatch) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
		if code < 300 {
			w.start()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *streamWatch) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *streamWatch) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack is the WebSocket upgrade: the stream starts.
func (w *streamWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, rw, err := h.Hijack()
	if err == nil {
		w.code = http.StatusSwitchingProtocols
		w.start()
	}
	return c, rw, err
}

func (w *streamWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// auditedLive serves a live view through serve and records it as described above.
func (s *Server) auditedLive(w http.ResponseWriter, r *http.Request, site, camera string, serve func(http.ResponseWriter)) {
	key := actor(r) + "\x00" + camera
	var began time.Time
	sw := &streamWatch{ResponseWriter: w, onStart: func() {
		began = time.Now()
		s.liveFails.succeed(key)
		s.audit(r, audit.Record{Action: audit.LiveViewStart, Site: site, Camera: camera, Success: true})
	}}
	serve(sw)
	if sw.started {
		s.audit(r, audit.Record{Action: audit.LiveViewStop, Site: site, Camera: camera, Success: true,
			Detail: "watched " + time.Since(began).Round(time.Second).String()})
		return
	}
	if s.liveFails.fail(key) {
		s.audit(r, audit.Record{Action: audit.LiveViewStart, Site: site, Camera: camera, Success: false,
			Detail: "refused: HTTP " + strconv.Itoa(sw.code) + "; retries of this series are not recorded"})
	}
}
