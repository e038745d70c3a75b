package remotewrite

import (
	"citywatch/config"
	"citywatch/store/forward"
)

// ConfigFromConfig is the writer configuration of one storage.remote_write endpoint, labelled with the edge's
// identity.
func ConfigFromConfig(rw config.RemoteWriteConfig, edge config.EdgeConfig) Config {
	relabel := make([]RelabelRule, len(rw.WriteRelabel))
	for i, r := range rw.WriteRelabel {
		relabel[i] = RelabelRule{Action: r.Action, Regex: r.Regex}
	}
	return Config{
		Name: rw.Name, URL: rw.URL, ProtobufMessage: rw.ProtobufMessage,
		BasicAuthUser: rw.Username, BasicAuthPassword: rw.Password.Value(), BearerToken: rw.BearerToken.Value(),
		Headers:   rw.Headers,
		TLSCAFile: rw.TLS.CAFile, TLSCertFile: rw.TLS.CertFile, TLSKeyFile: rw.TLS.KeyFile,
		TLSInsecureSkipVerify: rw.TLS.InsecureSkipVerify,
		Timeout:               rw.Timeout.Std(),
		Site:                  edge.Site, ExternalLabels: rw.ExternalLabels, Relabel: relabel,
		Settings: forward.Settings{
			BatchSize: rw.BatchSize, FlushInterval: rw.FlushInterval.Std(),
			RetryInitial: rw.MinBackoff.Std(), RetryMax: rw.MaxBackoff.Std(), Edge: edge.Name,
			QueueDir: rw.Queue.Dir, QueueMaxBytes: int64(rw.Queue.MaxBytes), QueueSegmentBytes: int64(rw.Queue.SegmentBytes),
			QueueFullPolicy: rw.Queue.FullPolicy, DeadLetterMaxBytes: int64(rw.DeadLetterMaxBytes),
		},
	}
}
