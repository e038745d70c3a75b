package ingest

import (
	"crypto/tls"

	"citywatch/config"
)

// ExternalFromConfig is the client configuration of a configured source. tlsCfg is built from src.TLS by the
// caller (it reads certificate files); nil for plain connections.
func ExternalFromConfig(src config.SourceConfig, tlsCfg *tls.Config) ExternalConfig {
	return ExternalConfig{
		Name: src.Name, URL: src.URL, ClientID: src.ClientID, Username: src.Username, Password: src.Password.Value(),
		Topics: src.Topics, SharedGroup: src.SharedGroup, QoS: byte(src.QoS), MaxInflight: src.MaxInflight,
		ReconnectMin: src.ReconnectMin.Std(), ReconnectMax: src.ReconnectMax.Std(), TLS: tlsCfg,
	}
}

// PipelineFromConfig is the pipeline configuration of cfg: the ingest door's limits, and the embedded TSDB's
// out-of-order window as the oldest sample accepted.
func PipelineFromConfig(cfg *config.Config) PipelineConfig {
	return PipelineConfig{DeadLetterSize: cfg.Ingest.DeadLetterSize, MaxFutureSkew: cfg.Ingest.MaxFutureSkew.Std(),
		MaxSampleAge: cfg.Storage.TSDB.OutOfOrderWindow.Std(), MaxSeriesPerDevice: cfg.Ingest.MaxSeriesPerDevice,
		MaxDevices: cfg.Ingest.MaxDevices}
}
