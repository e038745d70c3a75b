// Package openapi holds the OpenAPI 3.1 description of citywatch's REST API (openapi.json, embedded) and
// serves it. The Prometheus-compatible query API under /api/v1 is not part of it: it follows Prometheus' own
// documentation, which the document references.
//
// The document is maintained by hand next to the routes in package dashboards; a test there
// (TestOpenAPIMatchesRoutes) compares Operations with the registered routes in both directions, so a route
// added without documentation, or documentation of a route that does not exist, fails the build.
package openapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

//go:embed openapi.json
var spec []byte

// JSON returns a copy of the embedded OpenAPI document.
func JSON() []byte { return bytes.Clone(spec) }

// Handler serves the document as application/json, with an ETag so clients can revalidate cheaply. It
// answers GET and HEAD; the caller registers it (GET /api/openapi.json) behind authentication.
func Handler() http.Handler {
	sum := sha256.Sum256(spec)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte(`{"error":"method not allowed","detail":"GET or HEAD"}` + "\n"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(spec))
	})
}

// Operation is one documented operation: an upper-case HTTP method and an OpenAPI path template such as
// /api/alerts/{id}/ack.
type Operation struct {
	Method string
	Path   string
}

// String renders the operation like a Go 1.22 mux pattern: "POST /api/alerts/{id}/ack".
func (o Operation) String() string { return o.Method + " " + o.Path }

// methods are the OpenAPI path item keys that are operations.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operations returns every operation of the document, sorted by path then method.
func Operations() []Operation {
	ops, err := parseOperations(spec)
	if err != nil {
		// The embedded document is checked by this package's tests; a broken one is a build defect.
		panic(fmt.Sprintf("openapi: embedded openapi.json: %v", err))
	}
	return ops
}

func parseOperations(doc []byte) ([]Operation, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var ops []Operation
	for path, item := range d.Paths {
		for _, m := range methods {
			if _, ok := item[m]; ok {
				ops = append(ops, Operation{Method: strings.ToUpper(m), Path: path})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops, nil
}

// Paths returns the operations as "METHOD /path/{param}" strings, sorted like Operations.
func Paths() []string {
	ops := Operations()
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.String()
	}
	return out
}

// wildcardRE matches the segment wildcards of Go mux patterns: {name}, {name...} and {$}.
var wildcardRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)?(\.\.\.|\$)?\}`)

// Normalize turns a Go mux pattern ("GET /api/devices/{id...}", or just the path) into the OpenAPI form of
// its path ("/api/devices/{id}"): "{name...}" becomes "{name}", a trailing "{$}" is dropped, and the method
// and host, if any, are removed. Use it to compare registered routes with Operations.
func Normalize(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimSpace(pattern[i+1:])
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // host-qualified pattern
	}
	// Removing "{$}" can join text into a new wildcard ("{a.{$}..}"); repeat until nothing changes. Each
	// round that changes something shortens the pattern, so this ends.
	for {
		next := wildcardRE.ReplaceAllStringFunc(pattern, func(m string) string {
			g := wildcardRE.FindStringSubmatch(m)
			if g[2] == "$" {
				return ""
			}
			return "{" + g[1] + "}"
		})
		if next == pattern {
			return next
		}
		pattern = next
	}
}

// Documented reports whether a route belongs in the document: the REST API under /api/ and /healthz, /readyz
// and /metrics. The Prometheus API (/api/v1/...) is documented by Prometheus, and the web UI's pages are not
// an API.
func Documented(pattern string) bool {
	p := Normalize(pattern)
	switch {
	case p == "/healthz", p == "/readyz", p == "/metrics":
		return true
	case strings.HasPrefix(p, "/api/v1/"):
		return false
	default:
		return strings.HasPrefix(p, "/api/")
	}
}

// Diff compares registered Go mux patterns ("GET /api/devices/{id...}") with Operations: undocumented are the
// registered routes that Documented says belong in the document but that it lacks; unregistered are
// documented operations with no registered route. Patterns without a method match every method. Both lists
// are sorted; both empty means the document and the router agree.
func Diff(registered []string) (undocumented, unregistered []string) {
	ops := Operations()
	have := map[string]bool{}
	for _, o := range ops {
		have[o.String()] = true
	}
	seen := map[string]bool{}
	for _, pat := range registered {
		if !Documented(pat) {
			continue
		}
		method, _, hasMethod := strings.Cut(strings.TrimSpace(pat), " ")
		path := Normalize(pat)
		if !hasMethod || strings.HasPrefix(method, "/") {
			found := false
			for _, o := range ops {
				if o.Path == path {
					seen[o.String()], found = true, true
				}
			}
			if !found {
				undocumented = append(undocumented, pat)
			}
			continue
		}
		key := Operation{Method: strings.ToUpper(method), Path: path}.String()
		seen[key] = true
		if method == http.MethodGet {
			seen[Operation{Method: http.MethodHead, Path: path}.String()] = true // GET patterns serve HEAD too
		}
		if !have[key] {
			undocumented = append(undocumented, pat)
		}
	}
	for _, o := range ops {
		if !seen[o.String()] {
			unregistered = append(unregistered, o.String())
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unregistered)
	return undocumented, unregistered
}
