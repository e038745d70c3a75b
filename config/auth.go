package config

// AuthConfig configures dashboard sessions, API tokens and the bootstrap admin token.
type AuthConfig struct {
	// SessionIdle ends a browser session after this long without a request. It defaults to 30m.
	SessionIdle Duration `yaml:"session_idle"`
	// SessionMax ends a browser session this long after login, active or not; >= session_idle. It defaults
	// to 12h.
	SessionMax Duration `yaml:"session_max"`
	// SecureCookies forces the Secure attribute on cookies, for TLS terminated at a proxy. It defaults to false
	// (cookies are Secure exactly when http.tls is set).
	SecureCookies bool `yaml:"secure_cookies"`
	// TokenTTL is the lifetime of new API tokens. It defaults to 90d.
	TokenTTL Duration `yaml:"token_ttl"`
	// TrustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For is believed. It defaults to none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AdminToken, when set, is an admin API token that exists at start (automation, tests); at least 16
	// characters. The environment variable CITYWATCH_ADMIN_TOKEN sets it too. It defaults to "".
	AdminToken Secret `yaml:"admin_token"`
	// AdminTokenFile is a file holding the admin token. Parse reads it into AdminToken.
	AdminTokenFile string `yaml:"admin_token_file"`
}
