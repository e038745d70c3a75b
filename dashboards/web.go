package dashboards

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web
var webFS embed.FS

// webPage serves one embedded page.
func webPage(name string) http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time; a failure here is a build defect
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		http.ServeFileFS(w, r, sub, name)
	})
}

func setPageHeaders(w http.ResponseWriter) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
}

// webHandler serves the embedded UI's assets under /ui/.
func webHandler() http.Handler {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time; a failure here is a build defect
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		http.StripPrefix("/ui", files).ServeHTTP(w, r)
	})
}
