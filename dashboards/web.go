package dashboards

import (
	"embed"
	"net/http"
)

//go:embed web
var webFS embed.FS

func setPageHeaders(w http.ResponseWriter) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
}

// webSite is the embedded UI, read, hashed and compressed once (static.go).
func webSite() *staticSite {
	site, err := newStaticSite(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time; a failure here is a build defect
	}
	return site
}
