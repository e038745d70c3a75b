package dashboards

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
)

// The embedded UI is served without a build step, but as a built site would be: at start-up every file is
// read once from the embed.FS, hashed, and gzip-compressed when that helps; the tree's content hash becomes a
// path prefix (/ui/v-<hash>/...) that the pages refer to. Browsers keep those files for a year (immutable),
// since a change of any file changes the prefix; the pages themselves and unversioned /ui/ paths are
// revalidated on each load (ETag, 304). Relative ES module imports resolve under the same prefix, so the
// JavaScript needs no rewriting. Gzip at level 9 once beats compressing on every request.

// cacheForever is the Cache-Control of a content-addressed asset.
const cacheForever = "public, max-age=31536000, immutable"

// staticFile is one embedded file, ready to serve.
type staticFile struct {
	body, gz []byte // gz is nil when compression does not pay
	ctype    string
	etag     string
}

// staticSite is the embedded UI, read once.
type staticSite struct {
	version string                 // 12 hex digits of the tree's content hash
	files   map[string]*staticFile // by path below web/, such as "js/app.js"
}

// pages are served at their own routes with references to /ui/ rewritten to the versioned prefix.
var pages = []string{"index.html", "login.html"}

// servedAsset says whether an embedded file is part of the UI: the Go source that embeds the language files
// for the server (web/i18n/catalog.go) and the tree's README are not served.
func servedAsset(p string) bool {
	return !strings.HasSuffix(p, ".go") && path.Base(p) != "README.md"
}

// newStaticSite reads the tree under root of fsys.
func newStaticSite(fsys fs.FS, root string) (*staticSite, error) {
	sub, err := fs.Sub(fsys, root)
	if err != nil {
		return nil, err
	}
	site := &staticSite{files: map[string]*staticFile{}}
	var names []string
	raw := map[string][]byte{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !servedAsset(p) {
			return nil
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		names = append(names, p)
		raw[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the embedded UI: %w", err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(raw[n]))
		h.Write(raw[n])
	}
	site.version = hex.EncodeToString(h.Sum(nil))[:12]
	for _, n := range names {
		b := raw[n]
		for _, p := range pages {
			if n == p {
				b = bytes.ReplaceAll(b, []byte(`"/ui/`), []byte(`"/ui/v-`+site.version+`/`))
			}
		}
		f, err := newStaticFile(n, b)
		if err != nil {
			return nil, err
		}
		site.files[n] = f
	}
	return site, nil
}

func newStaticFile(name string, b []byte) (*staticFile, error) {
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		ctype = "text/javascript; charset=utf-8"
	case ".json":
		ctype = "application/json; charset=utf-8"
	case ".md":
		ctype = "text/markdown; charset=utf-8"
	}
	if ctype == "" {
		ctype = http.DetectContentType(b)
	}
	sum := sha256.Sum256(b)
	f := &staticFile{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	if compressible(ctype) && len(b) > 256 {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(b); err != nil {
			return nil, fmt.Errorf("gzip %s: %w", name, err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip %s: %w", name, err)
		}
		if buf.Len() < len(b)*9/10 {
			f.gz = buf.Bytes()
		}
	}
	return f, nil
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "json") || strings.Contains(ctype, "svg") ||
		strings.Contains(ctype, "javascript")
}

// serve writes f: 304 when the client holds this version, gzip when it accepts it.
func (f *staticFile) serve(w http.ResponseWriter, r *http.Request, cacheControl string) {
	hdr := w.Header()
	setPageHeaders(w)
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("Cache-Control", cacheControl)
	hdr.Set("ETag", f.etag)
	hdr.Add("Vary", "Accept-Encoding")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if f.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hdr.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatch reports whether an If-None-Match header names etag (or is *).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip (RFC 9110 §12.5.3: a q of 0 refuses;
// "*" covers codings not named).
func acceptsGzip(header string) bool {
	star, named := false, false
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		ok := qualityPositive(params)
		switch coding {
		case "gzip", "x-gzip":
			return ok
		case "*":
			star, named = ok, true
		}
	}
	return named && star
}

func qualityPositive(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || strings.ToLower(strings.TrimSpace(k)) != "q" {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err == nil && q > 0 && q <= 1
	}
	return true
}

// page serves one of the pages (index.html, login.html).
func (s *staticSite) page(name string) http.Handler {
	f := s.files[name]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.serve(w, r, "no-cache")
	})
}

// assets serves /ui/: /ui/v-<version>/<file> for a year, /ui/<file> and other versions revalidated.
func (s *staticSite) assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/ui/")
		cc := "no-cache"
		if v, rest, ok := strings.Cut(p, "/"); ok && strings.HasPrefix(v, "v-") {
			p = rest
			if v == "v-"+s.version {
				cc = cacheForever
			}
		}
		f, ok := s.files[p]
		if !ok || p != path.Clean(p) {
			setPageHeaders(w)
			WriteError(w, http.StatusNotFound, "not found", r.URL.Path)
			return
		}
		f.serve(w, r, cc)
	})
}
