package auth

import (
	"fmt"
	"net/netip"

	"citywatch/config"
)

// ConfigFromConfig is the access control configuration of the auth section: sessions, tokens, trusted
// proxies and the bootstrap admin token, with state under dataDir. Secure cookies are forced on when the
// listener serves TLS (httpTLS).
func ConfigFromConfig(ac config.AuthConfig, dataDir string, httpTLS bool) (Config, error) {
	out := Config{DataDir: dataDir, AdminToken: ac.AdminToken.Value(), SessionIdle: ac.SessionIdle.Std(),
		SessionMax: ac.SessionMax.Std(), TokenTTL: ac.TokenTTL.Std(), SecureCookies: ac.SecureCookies || httpTLS}
	for _, p := range ac.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return Config{}, fmt.Errorf("auth.trusted_proxies: %w", err)
		}
		out.TrustedProxies = append(out.TrustedProxies, prefix)
	}
	return out, nil
}
