package dashboards

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"citywatch/dashboards/promapi"
)

// promPrefix is where the Prometheus-compatible API lives.
const promPrefix = "/api/v1/"

// maxErrorBody bounds how much of an error answer promErrorShape holds to rewrite it; error bodies are small.
const maxErrorBody = 64 << 10

// promErrorShape gives every error answer under /api/v1/ Prometheus' envelope
// {"status":"error","errorType":...,"error":...}: the API's own errors already have it, and the answers the
// layers in front of it give (authentication 401, authorization 403, body limits 413, the rate limiter's 429)
// are rewritten from the REST shape {"error":...}, keeping status code and headers. Prometheus clients
// (Grafana, client_golang, promtool) parse the envelope of every /api/v1 answer; a REST body reads to them as
// a malformed response rather than the reason. Redirects and successes pass untouched.
func promErrorShape(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, promPrefix) {
			h.ServeHTTP(w, r)
			return
		}
		pw := &promErrorWriter{ResponseWriter: w}
		h.ServeHTTP(pw, r)
		pw.finish()
	})
}

// promErrorWriter holds an error answer's body until the handler is done, then writes it in Prometheus' shape.
type promErrorWriter struct {
	http.ResponseWriter
	code     int  // the held error status; 0 while passing through
	wrote    bool // WriteHeader went through to the client
	body     []byte
	overflow bool
}

func (w *promErrorWriter) WriteHeader(code int) {
	if w.wrote || w.code != 0 {
		return
	}
	if code >= 400 {
		w.code = code
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *promErrorWriter) Write(b []byte) (int, error) {
	if !w.wrote && w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.code == 0 {
		return w.ResponseWriter.Write(b)
	}
	if room := maxErrorBody - len(w.body); room > 0 {
		w.body = append(w.body, b[:min(len(b), room)]...)
	}
	w.overflow = w.overflow || len(w.body) >= maxErrorBody
	return len(b), nil
}

// finish writes the held error answer: unchanged if it already is Prometheus' envelope, else rewritten. Either
// way it goes out unencoded: an envelope a remote engine gzipped (passed through by promapi) is decoded to be
// checked, and a rewritten body must not go out under the encoding of the body it replaces, or the client
// fails to decode it instead of reading the reason.
func (w *promErrorWriter) finish() {
	if w.code == 0 {
		return
	}
	plain := w.body
	if w.overflow {
		plain = nil
	}
	if ce := w.Header().Get("Content-Encoding"); ce != "" {
		plain = decodeErrorBody(ce, plain)
		w.Header().Del("Content-Encoding")
	}
	if body := plain; promapi.IsErrorEnvelope(body) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.ResponseWriter.WriteHeader(w.code)
		_, _ = w.ResponseWriter.Write(body)
		return
	}
	w.Header().Del("Content-Length")
	w.Header().Del("Cache-Control")
	promapi.WriteError(w.ResponseWriter, w.code, promapi.ErrorType(w.code), restErrorMessage(plain, w.code))
}

// decodeErrorBody decodes a held error body of Content-Encoding ce, up to maxErrorBody bytes; it returns nil
// for another encoding than gzip, a corrupt body, or one larger decoded.
func decodeErrorBody(ce string, body []byte) []byte {
	if !strings.EqualFold(strings.TrimSpace(ce), "gzip") || body == nil {
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxErrorBody+1))
	if err != nil || len(out) > maxErrorBody {
		return nil
	}
	return out
}

// restErrorMessage is the message of a REST error body {"error": "...", "detail": ...}, with a string
// detail appended; other bodies give the status text.
func restErrorMessage(body []byte, code int) string {
	var e struct {
		Error  string `json:"error"`
		Detail any    `json:"detail"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return strings.ToLower(http.StatusText(code))
	}
	if d, ok := e.Detail.(string); ok && d != "" {
		return e.Error + ": " + d
	}
	return e.Error
}

// Flush passes through for answers that are not held.
func (w *promErrorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.code == 0 {
		f.Flush()
	}
}

// Hijack passes through (no /api/v1 route upgrades, but a wrapper must not hide the capability).
func (w *promErrorWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("http: connection cannot be hijacked")
	}
	return h.Hijack()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *promErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
