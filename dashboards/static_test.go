package dashboards

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func getUI(t *testing.T, h http.Handler, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var versionedRef = regexp.MustCompile(`/ui/v-[0-9a-f]{12}/js/app\.js`)

// TestStaticAssetsVersionedAndCached: the page refers to its assets under a content-hash prefix; those are
// cached for a year and immutable, while the page and unversioned paths are revalidated (ETag, 304).
func TestStaticAssetsVersionedAndCached(t *testing.T) {
	s, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	page := getUI(t, h, "/", nil)
	if page.Code != 200 {
		t.Fatalf("GET /: %d", page.Code)
	}
	if cc := page.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("page Cache-Control %q, want no-cache (revalidated: it names the current asset version)", cc)
	}
	ref := versionedRef.FindString(page.Body.String())
	if ref == "" {
		t.Fatalf("the page does not load its code from a content-hashed path:\n%s", page.Body)
	}
	asset := getUI(t, h, ref, nil)
	if asset.Code != 200 || !strings.Contains(asset.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("%s: %d %q", ref, asset.Code, asset.Header().Get("Content-Type"))
	}
	if cc := asset.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("%s: Cache-Control %q, want a year, immutable", ref, cc)
	}
	// Relative imports resolve under the same prefix: a module it imports is served there too.
	dep := strings.Replace(ref, "js/app.js", "js/api.js", 1)
	if rec := getUI(t, h, dep, nil); rec.Code != 200 {
		t.Errorf("%s: %d", dep, rec.Code)
	}
	plain := getUI(t, h, "/ui/js/app.js", nil)
	etag := plain.Header().Get("ETag")
	if plain.Code != 200 || plain.Header().Get("Cache-Control") != "no-cache" || etag == "" {
		t.Fatalf("/ui/js/app.js: %d Cache-Control %q ETag %q, want 200 no-cache with an ETag", plain.Code, plain.Header().Get("Cache-Control"), etag)
	}
	if rec := getUI(t, h, "/ui/js/app.js", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("revalidation with the ETag: %d, %d bytes; want 304 and no body", rec.Code, rec.Body.Len())
	}
	if pe := page.Header().Get("ETag"); pe == "" {
		t.Error("the page has no ETag")
	} else if rec := getUI(t, h, "/", map[string]string{"If-None-Match": pe}); rec.Code != http.StatusNotModified {
		t.Errorf("page revalidation: %d, want 304", rec.Code)
	}
	// An asset of an older version (a page loaded before an upgrade) still loads, but is not cached as if
	// it were that version's content.
	old := regexp.MustCompile(`v-[0-9a-f]{12}`).ReplaceAllString(ref, "v-000000000000")
	if rec := getUI(t, h, old, nil); rec.Code != 200 || strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("%s: %d Cache-Control %q, want 200 and not immutable", old, rec.Code, rec.Header().Get("Cache-Control"))
	}
	for _, bad := range []string{"/ui/../server.go", "/ui/v-" + strings.Repeat("a", 12) + "/../../x", "/ui/nope.js", "/ui/js/"} {
		if rec := getUI(t, h, bad, nil); rec.Code == 200 {
			t.Errorf("%s: 200, want an error", bad)
		}
	}
}

var gzipCases = []struct {
	path, accept string
	gzipped      bool
}{
	{"/ui/vendor/uPlot.esm.js", "gzip, deflate, br", true},
	{"/ui/style.css", "gzip", true},
	{"/", "br;q=1, gzip;q=0.8", true},
	{"/login", "gzip", true},
	{"/ui/vendor/uPlot.esm.js", "", false},
	{"/ui/vendor/uPlot.esm.js", "identity", false},
	{"/ui/vendor/uPlot.esm.js", "gzip;q=0", false},
}

// TestStaticGzip: text assets are sent gzip-compressed to browsers that accept it, identical once
// decompressed, and plain to those that do not; Vary says so to caches.
func TestStaticGzip(t *testing.T) {
	s, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, c := range gzipCases {
		t.Run(c.path+" "+c.accept, func(t *testing.T) {
			plain := getUI(t, h, c.path, nil)
			rec := getUI(t, h, c.path, map[string]string{"Accept-Encoding": c.accept})
			if rec.Code != 200 {
				t.Fatalf("%d", rec.Code)
			}
			if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
				t.Errorf("Vary %q lacks Accept-Encoding", rec.Header().Get("Vary"))
			}
			got := rec.Body.Bytes()
			if enc := rec.Header().Get("Content-Encoding"); (enc == "gzip") != c.gzipped {
				t.Fatalf("Content-Encoding %q, want gzip: %v", enc, c.gzipped)
			}
			if c.gzipped {
				if len(got) >= plain.Body.Len()*9/10 {
					t.Errorf("gzipped %d bytes of %d: not compressed", len(got), plain.Body.Len())
				}
				zr, err := gzip.NewReader(bytes.NewReader(got))
				if err != nil {
					t.Fatal(err)
				}
				if got, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, plain.Body.Bytes()) {
				t.Error("content differs from the plain answer")
			}
		})
	}
}

// TestAcceptsGzip is the Accept-Encoding parser's table.
func TestAcceptsGzip(t *testing.T) {
	for in, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip": true, "gzip;q=0": false, "gzip; q=0.0": false,
		"gzip;q=0.5": true, "*": true, "*;q=0": false, "br": false, "x-gzip": true, "gzip;q=abc": false,
	} {
		if got := acceptsGzip(in); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzAcceptsGzip: any header value is handled without a panic.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "*;q=0.1, br", ";;;q=", "gzip;q=1e999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { _ = acceptsGzip(s) })
}

// TestStaticServesOnlyTheUI: the Go source embedding the language files for the server and the tree's README
// are in the embedded tree but are not UI files: they are not served, under either prefix.
func TestStaticServesOnlyTheUI(t *testing.T) {
	s, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	ref := versionedRef.FindString(getUI(t, h, "/", nil).Body.String())
	prefix := strings.TrimSuffix(ref, "js/app.js")
	for _, p := range []string{"/ui/i18n/catalog.go", prefix + "i18n/catalog.go", "/ui/README.md"} {
		if rec := getUI(t, h, p, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
	if rec := getUI(t, h, "/ui/i18n/vi.json", nil); rec.Code != http.StatusOK {
		t.Errorf("GET /ui/i18n/vi.json: %d, want 200", rec.Code)
	}
}
