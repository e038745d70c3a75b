package analyze

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"citywatch/cameras"
	"citywatch/cameras/annexb"
	"citywatch/internal/clock"
)

// frameMeta describes a fed access unit, matched in order to the frames ffmpeg outputs.
type frameMeta struct {
	t       time.Time
	fed     time.Time
	analyse bool // false: decoded only as a reference of a later analysed frame
}

// maxInflight bounds the access units fed but not yet matched to a decoded frame (small P-frames can pile up
// in the pipe by the hundred when fed faster than real time). ffmpeg outputs one frame per access unit; if it
// drops one (corrupt input) later frames are matched to an access unit a little older than theirs, which
// shifts their time by a frame interval: harmless for analysis, and reset with every decoder.
const maxInflight = 4096

// gracefulStop is how long a decoder may take to finish its input before it is killed.
const gracefulStop = 2 * time.Second

// decoderProc is one ffmpeg process: access units go in on stdin as Annex-B, fixed-size grey frames come out
// on stdout and are handed to onFrame by the reader goroutine, which ends when the process does.
type decoderProc struct {
	cmd     *exec.Cmd
	stdin   *os.File
	cancel  context.CancelFunc
	done    chan struct{}
	err     error // set before done is closed
	stderr  *tailBuffer
	w, h    int
	h265    bool
	mjpeg   bool // access units are whole JPEG images, written as they are
	started time.Time
	clk     clock.Clock
	stall   time.Duration
	buf     []byte // Annex-B of the access unit being written; worker-owned
	watch   writeWatchdog

	mu       sync.Mutex
	inflight []frameMeta
	lastOut  time.Time
	decoded  atomic.Uint64
	stopOnce sync.Once
}

// ffmpegFormat is ffmpeg's input format for a codec, or "" when unsupported.
func ffmpegFormat(codec string) string {
	switch codec {
	case "H264":
		return "h264"
	case "H265":
		return "hevc"
	case "MJPEG":
		return "mjpeg"
	}
	return ""
}

// decoderArgs is ffmpeg's argument list (no shell is involved): single-threaded, small probe so the first
// frame comes out at once, scaled to w×h grey, one output frame per decoded frame (no rate conversion).
func decoderArgs(format string, w, h int) []string {
	return []string{
		"-hide_banner", "-loglevel", "error", "-nostats",
		"-threads", "1", "-probesize", "32", "-analyzeduration", "0",
		"-f", format, "-i", "pipe:0",
		"-an", "-sn", "-dn",
		"-filter_threads", "1",
		"-vf", "scale=" + strconv.Itoa(w) + ":" + strconv.Itoa(h) + ":flags=area,format=gray",
		"-fps_mode", "passthrough",
		"-f", "rawvideo", "pipe:1",
	}
}

type frameFunc func(pix []byte, w, h int, m frameMeta, ok bool)

// startDecoder starts ffmpeg for one stream and its reader goroutine.
func startDecoder(ctx context.Context, path, format string, w, h int, clk clock.Clock, stall time.Duration, onFrame frameFunc) (*decoderProc, error) {
	pctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(pctx, path, decoderArgs(format, w, h)...)
	cmd.WaitDelay = gracefulStop
	pr, pw, err := os.Pipe() // our own pipe: its write end supports deadlines, which the watchdog sets
	if err != nil {
		cancel()
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	cmd.Stdin = pr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	p := &decoderProc{cmd: cmd, stdin: pw, cancel: cancel, done: make(chan struct{}), stderr: &tailBuffer{max: 512},
		w: w, h: h, h265: format == "hevc", mjpeg: format == "mjpeg", clk: clk, stall: stall}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		pr.Close()
		pw.Close()
		return nil, err
	}
	pr.Close()
	p.watch.start(pw, clk, stall)
	p.started = clk.Now()
	p.lastOut = p.started
	go p.read(stdout, onFrame)
	return p, nil
}

func (p *decoderProc) read(stdout io.Reader, onFrame frameFunc) {
	defer close(p.done)
	buf := make([]byte, p.w*p.h)
	for {
		if _, err := io.ReadFull(stdout, buf); err != nil {
			break
		}
		p.decoded.Add(1)
		p.mu.Lock()
		p.lastOut = p.clk.Now()
		var m frameMeta
		ok := len(p.inflight) > 0
		if ok {
			m = p.inflight[0]
			p.inflight = p.inflight[1:]
		}
		p.mu.Unlock()
		onFrame(buf, p.w, p.h, m, ok)
	}
	p.err = p.cmd.Wait()
}

// feed writes one access unit; analyse is handed to the frame's callback. An error means the process is gone
// or stuck.
func (p *decoderProc) feed(au cameras.AccessUnit, analyse bool, now time.Time) error {
	if p.mjpeg {
		for _, img := range au.NALUs { // exactly one image
			p.buf = append(p.buf[:0], img...)
		}
	} else {
		p.buf = annexb.Append(p.buf[:0], au, p.h265)
	}
	p.mu.Lock()
	if len(p.inflight) >= maxInflight {
		p.inflight = p.inflight[1:]
	}
	p.inflight = append(p.inflight, frameMeta{t: au.Time, fed: now, analyse: analyse})
	p.mu.Unlock()
	return p.watch.write(p.buf)
}

// stalled reports whether access units were fed but no frame came out for longer than timeout.
func (p *decoderProc) stalled(now time.Time, timeout time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.inflight) == 0 {
		return false
	}
	last := p.lastOut
	if p.inflight[0].fed.After(last) {
		last = p.inflight[0].fed
	}
	return now.Sub(last) > timeout
}

// stop ends the process and waits for its reader. graceful closes stdin first so ffmpeg can flush.
func (p *decoderProc) stop(graceful bool) {
	p.stopOnce.Do(func() {
		p.watch.stop()
		p.stdin.Close()
		if graceful {
			select {
			case <-p.done:
			case <-time.After(gracefulStop):
			}
		}
		p.cancel()
	})
	<-p.done
}

func (p *decoderProc) exitErr() error {
	select {
	case <-p.done:
		if p.err != nil && !errors.Is(p.err, context.Canceled) {
			return p.err
		}
	default:
	}
	return nil
}

func (p *decoderProc) stderrTail() string { return p.stderr.String() }

func (p *decoderProc) decodedFrames() uint64 { return p.decoded.Load() }

// tailBuffer keeps the last bytes written to it (ffmpeg's stderr), for the failure reason.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:] // the last line says what finally went wrong
	}
	return s
}
