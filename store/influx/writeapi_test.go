package influx

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeRequest is what a server saw of one write request.
type writeRequest struct {
	path, query, encoding, auth string
	length                      int64
	lines                       []string
}

// recordingInflux accepts every write and records it.
type recordingInflux struct {
	t  *testing.T
	mu sync.Mutex
	rs []writeRequest
}

func (s *recordingInflux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.t.Errorf("gzip body: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		s.t.Errorf("read body: %v", err)
		return
	}
	s.mu.Lock()
	s.rs = append(s.rs, writeRequest{path: r.URL.Path, query: r.URL.RawQuery, encoding: r.Header.Get("Content-Encoding"),
		auth: r.Header.Get("Authorization"), length: r.ContentLength, lines: strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")})
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *recordingInflux) requests() []writeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]writeRequest(nil), s.rs...)
}

// TestWriteRequestIsOneBuffer: a batch goes out as one request whose body was built (and compressed, with
// gzip) beforehand into one buffer: it has a Content-Length, needs no goroutine and pipe per write as the
// client's streamed gzip did, and decodes to exactly the queued lines, on the endpoint, parameters and
// Authorization the client's write API used.
func TestWriteRequestIsOneBuffer(t *testing.T) {
	t.Parallel()
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gzip"}[gz], func(t *testing.T) {
			t.Parallel()
			srv := &recordingInflux{t: t}
			hs := httptest.NewServer(srv)
			t.Cleanup(hs.Close)
			cfg := testConfig(hs.URL, "citywatch/autogen", t.TempDir())
			cfg.Token, cfg.Org, cfg.Gzip = secretToken, "city", gz
			w, err := New(cfg, Deps{})
			require.NoError(t, err)
			require.NoError(t, w.Append(context.Background(), seq("m", 0, 500, 1700000000000)))
			require.NoError(t, w.Start())
			t.Cleanup(func() { require.NoError(t, w.Close()) })
			require.Eventually(t, func() bool { return w.Status().Sent == 500 }, eventually, poll)

			rs := srv.requests()
			require.Len(t, rs, 1)
			r := rs[0]
			require.Equal(t, "/api/v2/write", r.path)
			require.Equal(t, "bucket=citywatch%2Fautogen&org=city&precision=ms", r.query)
			require.Equal(t, "Token "+secretToken, r.auth)
			require.Equal(t, map[bool]string{true: "gzip"}[gz], r.encoding)
			require.Positive(t, r.length, "the body is one buffer of known length, not a stream")
			want := make([]string, 0, 500)
			enc := newEncoder(sortedTags(cfg.staticTags()), precisions["ms"])
			s := seq("m", 0, 500, 1700000000000)
			for i := range s {
				b, _, err := enc.encode(nil, &s[i])
				require.NoError(t, err)
				want = append(want, strings.TrimSuffix(string(b), "\n"))
			}
			require.Equal(t, want, r.lines)
		})
	}
}
