package remotequery

import (
	"crypto/tls"

	"citywatch/config"
)

// ConfigFromConfig is the client configuration of storage.query. tlsCfg is built from q.TLS by the caller (it
// reads certificate files); nil for the system roots.
func ConfigFromConfig(q config.StorageQueryConfig, tlsCfg *tls.Config) Config {
	return Config{URL: q.URL, Timeout: q.Timeout.Std(), Username: q.Username, Password: q.Password.Value(),
		BearerToken: q.BearerToken.Value(), Headers: q.Headers, TLS: tlsCfg}
}
