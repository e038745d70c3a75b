package testenv

import (
	_ "embed"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

//go:embed testdata/gst_rtsp_server.py
var gstRTSPServerPy []byte

// GstMJPEGLaunch is a live 320×240, 10 fps test picture as RTP/JPEG (RFC 2435, payload type 26): what an
// MJPEG IP camera sends. format=I420 because RTP/JPEG carries only 4:2:0 and 4:2:2 JPEGs: with the default
// negotiation jpegenc may encode 4:4:4, rtpjpegpay rejects it ("Invalid component") and the server never
// answers DESCRIBE.
const GstMJPEGLaunch = "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=10/1 " +
	"! jpegenc ! rtpjpegpay name=pay0 pt=26"

// gstPython is the interpreter with the Debian GObject bindings (python3-gi): the system one, not a
// pyenv or virtualenv python3 that may come first on PATH.
const gstPython = "/usr/bin/python3"

// GstRTSPServer is GStreamer's RTSP server (gst-rtsp-server through python3-gi) serving one stream: a
// third-party RTSP implementation, as cameras and NVRs built on GStreamer run it.
type GstRTSPServer struct {
	// URL is rtsp://127.0.0.1:<port>/<path>.
	URL string
	cmd *exec.Cmd
	in  io.WriteCloser
	out *Buffer
	// done is closed when the process has exited.
	done chan struct{}
}

// GstRTSP starts GStreamer's RTSP server on a free loopback port serving launch (a gst-launch description
// whose payloader is named pay0) at path, and waits until it listens. It is stopped when the test ends.
// A missing GStreamer (python3-gi, gir1.2-gst-rtsp-server-1.0, plugins) skips the test, or fails it in CI.
func GstRTSP(t testing.TB, path, launch string) *GstRTSPServer {
	t.Helper()
	SkipShort(t)
	checkGst(t, launch)
	dir := t.TempDir()
	script := filepath.Join(dir, "gst_rtsp_server.py")
	if err := os.WriteFile(script, gstRTSPServerPy, 0o600); err != nil {
		t.Fatalf("gst rtsp server: %v", err)
	}
	addr := FreePort(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	s := &GstRTSPServer{URL: "rtsp://" + addr + "/" + strings.TrimPrefix(path, "/"), out: &Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(gstPython, script, port, path, launch)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	in, err := s.cmd.StdinPipe() // the server exits when this closes, even if the test process dies
	if err != nil {
		t.Fatalf("gst rtsp server: %v", err)
	}
	s.in = in
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("gst rtsp server: start: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("gst rtsp server output:\n%s", s.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.out.String(), "READY") {
		select {
		case <-s.done:
			t.Fatalf("gst rtsp server exited: %s", s.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gst rtsp server not ready after 20s: %s", s.out.String())
		}
	}
	return s
}

// Stop ends the server (SIGTERM, then SIGKILL after 5 s) and waits for it. It is safe to call twice.
func (s *GstRTSPServer) Stop() {
	_ = s.in.Close()
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Output returns what the server printed so far.
func (s *GstRTSPServer) Output() string { return s.out.String() }

// checkGst ends the test (skip, or fail in CI) when the GObject bindings, the RTSP server library or an
// element of launch is missing.
func checkGst(t testing.TB, launch string) {
	t.Helper()
	const hint = "; run scripts/install-test-deps.sh (Debian: python3-gi gir1.2-gst-rtsp-server-1.0 " +
		"gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)"
	missing := func(why string) {
		if InCI() {
			t.Fatal(why + hint)
		}
		t.Skip(why + hint)
	}
	if _, err := os.Stat(gstPython); err != nil {
		missing(gstPython + " not found")
	}
	var elems []string
	for _, part := range strings.Split(launch, "!") {
		f := strings.Fields(part)
		if len(f) > 0 && !strings.ContainsAny(f[0], "/()") {
			elems = append(elems, `"`+f[0]+`"`)
		}
	}
	probe := `import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in [` + strings.Join(elems, ",") + `] if Gst.ElementFactory.find(e) is None]
if missing:
    raise SystemExit("GStreamer elements missing: " + ", ".join(missing))
`
	out, err := exec.Command(gstPython, "-c", probe).CombinedOutput()
	if err != nil {
		missing("GStreamer RTSP server unusable: " + lastLine(string(out)))
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
