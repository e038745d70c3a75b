package dashboards

import (
	"embed"
	"net/http"
	"sync"
)

//go:embed web
var webFS embed.FS

func setPageHeaders(w http.ResponseWriter) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "same-origin")
}

// webSite is the embedded UI, read, hashed and compressed once per process (static.go): the tree is fixed at
// build time and a staticSite is never changed after it is built, so every Server shares one (gzip at level 9
// of the whole UI costs a test that starts many servers about 150 ms of CPU each time).
var webSite = sync.OnceValue(func() *staticSite {
	site, err := newStaticSite(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time; a failure here is a build defect
	}
	return site
})
