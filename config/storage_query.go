package config

import (
	"net/url"
	"strings"
	"time"
)

// StorageQueryConfig makes citywatch a centre: with URL set, the Prometheus API, the web UI's charts, the
// camera and device listings and the alert rules read a remote Prometheus-compatible query API
// (VictoriaMetrics, Grafana Mimir, Thanos Query, Prometheus) that the edges remote-write to, instead of the
// embedded TSDB. Site-limited users stay confined to their sites: their queries are rewritten so that every
// selector carries their site matchers before they leave the process.
type StorageQueryConfig struct {
	// URL is the base URL of the query API, to which /api/v1/query is appended: "http://victoriametrics:8428",
	// "http://mimir:8080/prometheus", "http://thanos-query:9090". It defaults to "" (query the embedded TSDB).
	URL string `yaml:"url"`
	// Timeout bounds one request to the query API from rule evaluation and the listings; API queries keep
	// http.query.timeout. It defaults to 30s.
	Timeout Duration `yaml:"timeout"`
	// Username and Password are HTTP basic auth credentials. They default to "".
	Username string `yaml:"username"`
	// Password is the basic auth password. It defaults to "".
	Password Secret `yaml:"password"`
	// PasswordFile is a file holding the password. Parse reads it into Password.
	PasswordFile string `yaml:"password_file"`
	// BearerToken is sent as "Authorization: Bearer <token>" (not with basic auth). It defaults to "".
	BearerToken Secret `yaml:"bearer_token"`
	// BearerTokenFile is a file holding the bearer token. Parse reads it into BearerToken.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// Headers are added to every request, e.g. X-Scope-OrgID for a Mimir tenant. It defaults to none.
	Headers map[string]string `yaml:"headers"`
	// TLS configures https to the query API. It defaults to the system roots.
	TLS ClientTLSConfig `yaml:"tls"`
	// Edges maps an edge's name (the edge label its remote write adds, edge.name) to the base URL of that
	// edge's citywatch, so the centre's camera list links each camera to its live view at the edge (video
	// stays at the edges). It defaults to none (no links).
	Edges map[string]string `yaml:"edges"`
}

// Enabled reports whether citywatch queries a remote engine (a centre).
func (q StorageQueryConfig) Enabled() bool { return q.URL != "" }

// defaultStorageQuery are storage.query's defaults; Default uses them.
func defaultStorageQuery() StorageQueryConfig {
	return StorageQueryConfig{Timeout: Duration(30 * time.Second)}
}

func (c *Config) validateStorageQuery(v validator) {
	q := &c.Storage.Query
	v.positive("storage.query.timeout", q.Timeout)
	if q.URL == "" {
		if q.Username != "" || q.Password != "" || q.BearerToken != "" || len(q.Headers) > 0 || len(q.Edges) > 0 {
			v.add("storage.query.url", "is required when credentials, headers or edges are set (the remote query API is enabled by url)")
		}
		return
	}
	v.httpURL("storage.query.url", q.URL, `"http://victoriametrics:8428"`)
	if q.Username != "" && q.BearerToken != "" {
		v.add("storage.query.bearer_token", "set either username/password or bearer_token, not both")
	}
	if q.Password != "" && q.Username == "" {
		v.add("storage.query.username", "is required when password is set")
	}
	for _, name := range sortedKeys(q.Headers) {
		if strings.EqualFold(name, "Authorization") {
			v.add(joinPath("storage.query.headers", name), "use username/password or bearer_token, which are kept secret")
		}
		v.text(joinPath("storage.query.headers", name), q.Headers[name])
	}
	for _, name := range sortedKeys(q.Edges) {
		v.httpURL(joinPath("storage.query.edges", name), q.Edges[name], `"https://edge-1.example.org"`)
	}
	v.clientTLS("storage.query.tls", q.TLS)
}

// httpURL checks an http(s) URL without credentials.
func (v validator) httpURL(path, raw, example string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.add(path, "invalid URL %s", quoteURL(raw))
	case u.User != nil:
		v.add(path, "must not contain credentials")
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.add(path, "must be an http or https URL like %s; got %s", example, quote(raw))
	}
}
