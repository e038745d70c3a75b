package dashboards

import "citywatch/config"

// LimitsFromConfig are the server's limits of http.limits.
func LimitsFromConfig(l config.HTTPLimitsConfig) Limits {
	return Limits{
		MaxConnections:              l.MaxConnections,
		MaxConnectionsPerAddress:    l.MaxConnectionsPerAddress,
		ReadHeaderTimeout:           l.ReadHeaderTimeout.Std(),
		BodyReadTimeout:             l.BodyReadTimeout.Std(),
		IdleTimeout:                 l.IdleTimeout.Std(),
		MaxBodyBytes:                int64(l.MaxBodyBytes),
		MaxLoginBodyBytes:           int64(l.MaxLoginBodyBytes),
		MaxEventStreams:             l.MaxEventStreams,
		MaxEventStreamsPerPrincipal: l.MaxEventStreamsPerPrincipal,
	}
}
