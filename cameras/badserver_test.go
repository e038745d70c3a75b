package cameras

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// badServer is a raw TCP "camera" that answers RTSP requests from a script, to feed the monitor
// protocol-level garbage that a well-behaved library server cannot produce.
type badServer struct {
	name string
	// respond returns the raw bytes to send for a request; nil sends nothing (a server that never answers).
	respond func(method, cseq string) []byte
	// wantReason is a substring of the state reason the monitor must show.
	wantReason string

	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func rtspResponse(cseq, status string, headers map[string]string, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "RTSP/1.0 %s\r\nCSeq: %s\r\n", status, cseq)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

func describeWith(sdpType, body string) func(method, cseq string) []byte {
	return func(method, cseq string) []byte {
		if method == "OPTIONS" {
			return rtspResponse(cseq, "200 OK", map[string]string{"Public": "DESCRIBE, SETUP, PLAY"}, "")
		}
		return rtspResponse(cseq, "200 OK", map[string]string{"Content-Type": sdpType}, body)
	}
}

const audioOnlySDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
	"m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n" +
	"a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1210\r\na=control:trackID=0\r\n"

// badServerCases are cameras that misbehave at the RTSP/SDP level.
var badServerCases = []*badServer{
	{name: "never answers", respond: func(string, string) []byte { return nil }, wantReason: "did not answer"},
	{name: "garbage bytes", respond: func(string, string) []byte {
		return []byte("\x00\xff\x13garbage that is not RTSP at all\r\n\r\n")
	}, wantReason: "RTSP error"},
	{name: "huge SDP", respond: func(method, cseq string) []byte {
		if method == "OPTIONS" {
			return rtspResponse(cseq, "200 OK", nil, "")
		}
		return []byte("RTSP/1.0 200 OK\r\nCSeq: " + cseq + "\r\nContent-Type: application/sdp\r\nContent-Length: 100000000\r\n\r\nv=0\r\n")
	}, wantReason: "RTSP error"},
	{name: "broken SDP", respond: describeWith("application/sdp", "v=0\r\nm=video garbage\r\nthis is not sdp\r\n"), wantReason: "RTSP error"},
	{name: "audio only", respond: describeWith("application/sdp", audioOnlySDP), wantReason: "no video track"},
	{name: "not SDP", respond: describeWith("text/html", "<html></html>"), wantReason: "RTSP error"},
	{name: "404", respond: func(method, cseq string) []byte {
		if method == "OPTIONS" {
			return rtspResponse(cseq, "200 OK", nil, "")
		}
		return rtspResponse(cseq, "404 Not Found", nil, "")
	}, wantReason: "camera answered 404"},
}

func (s *badServer) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.ln, s.addr, s.conns = ln, ln.Addr().String(), make(map[net.Conn]struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(s.stop)
}

func (s *badServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *badServer) serve(c net.Conn) {
	defer c.Close()
	r := textproto.NewReader(bufio.NewReader(c))
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		method, _, _ := strings.Cut(line, " ")
		hdr, err := r.ReadMIMEHeader()
		if err != nil {
			return
		}
		if n, _ := strconv.Atoi(hdr.Get("Content-Length")); n > 0 {
			if _, err := r.R.Discard(min(n, 1<<16)); err != nil {
				return
			}
		}
		out := s.respond(method, hdr.Get("CSeq"))
		if out == nil {
			continue
		}
		c.SetWriteDeadline(time.Now().Add(time.Second)) //nolint:errcheck
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// startBadServers starts a fresh copy of every bad server case.
func startBadServers(t *testing.T) []*badServer {
	t.Helper()
	var out []*badServer
	for _, tc := range badServerCases {
		s := &badServer{name: tc.name, respond: tc.respond, wantReason: tc.wantReason}
		s.start(t)
		out = append(out, s)
	}
	return out
}

func TestMonitorBadServers(t *testing.T) {
	t.Parallel() // waits on real RTSP streams (see ioParallel)
	servers := startBadServers(t)
	var cams []CameraConfig
	for i, s := range servers {
		cams = append(cams, testCamera(fmt.Sprintf("bad%d", i), "rtsp://"+s.addr+"/stream"))
	}
	h := startMonitor(t, cams)
	for i, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			// The slowest verdict is a server that never answers: the RTSP read timeout (2×StallTimeout).
			st := h.waitState(t, fmt.Sprintf("bad%d", i), StateOffline, 4*testStall+time.Second)
			require.Contains(t, st.Reason, s.wantReason)
			require.NotEmpty(t, st.LastError)
		})
	}
}
