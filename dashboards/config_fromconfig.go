package dashboards

import "citywatch/config"

// ConfigFromConfig is the HTTP server's view of the http section: the listen address, the TLS files and the
// request limits. AnonymousRead (the demo on loopback) and Plans (the site plans page) are the caller's, and
// ShutdownTimeout has no key. A test in app fails when a field of Config is reached by no key and is not
// listed as deliberately internal.
func ConfigFromConfig(h config.HTTPConfig) Config {
	return Config{Listen: h.Listen, TLSCertFile: h.TLS.CertFile, TLSKeyFile: h.TLS.KeyFile, Limits: LimitsFromConfig(h.Limits)}
}
