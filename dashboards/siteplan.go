package dashboards

import (
	"net/http"
	"strings"
)

// PlanPage is what the server must know of the site plans and the city map (package siteplan serves them).
type PlanPage struct {
	// MaxImageBytes is the plan image upload limit: PUT /api/plans/{site}/image may send up to this many bytes
	// even when Limits.MaxBodyBytes is smaller. It defaults to 0: Limits.MaxBodyBytes applies.
	MaxImageBytes int64
	// ImgSources are origins ("https://tile.openstreetmap.org") the UI may load images from, the map's tile
	// server; they are added to the page's Content-Security-Policy as img-src. It defaults to none.
	ImgSources []string
}

// isPlanUpload reports whether r uploads a site plan image.
func isPlanUpload(r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/plans/")
	return ok && r.Method == http.MethodPut && strings.Count(rest, "/") == 1 && strings.HasSuffix(rest, "/image")
}

// withImgSources serves h with srcs allowed as image sources in its Content-Security-Policy (the page's CSP
// is otherwise default-src 'self', which would block the map's tiles).
func withImgSources(h http.Handler, srcs []string) http.Handler {
	if len(srcs) == 0 {
		return h
	}
	extra := "; img-src 'self' " + strings.Join(srcs, " ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&cspWriter{ResponseWriter: w, extra: extra}, r)
	})
}

// cspWriter appends an img-src directive to the response's CSP when the headers are written.
type cspWriter struct {
	http.ResponseWriter
	extra string
	done  bool
}

func (c *cspWriter) amend() {
	if c.done {
		return
	}
	c.done = true
	if csp := c.Header().Get("Content-Security-Policy"); csp != "" {
		c.Header().Set("Content-Security-Policy", csp+c.extra)
	}
}

func (c *cspWriter) WriteHeader(code int) {
	c.amend()
	c.ResponseWriter.WriteHeader(code)
}

func (c *cspWriter) Write(b []byte) (int, error) {
	c.amend()
	return c.ResponseWriter.Write(b)
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (c *cspWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
