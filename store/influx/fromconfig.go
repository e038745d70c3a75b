package influx

import (
	"citywatch/config"
	"citywatch/store/forward"
)

// ConfigFromConfig is the forwarder configuration of storage.influx, tagged with the edge's identity.
func ConfigFromConfig(ic config.InfluxConfig, edge config.EdgeConfig) Config {
	return Config{
		URL: ic.URL, Org: ic.Org, Bucket: ic.Bucket, Token: ic.Token.Value(), Precision: ic.Precision,
		Gzip: ic.Gzip, Timeout: ic.Timeout.Std(), ReplayRate: ic.ReplayRate,
		Site: edge.Site, Tags: ic.Tags,
		Settings: forward.Settings{
			BatchSize: ic.BatchSize, FlushInterval: ic.FlushInterval.Std(),
			RetryInitial: ic.RetryInitial.Std(), RetryMax: ic.RetryMax.Std(), Edge: edge.Name,
			QueueDir: ic.Queue.Dir, QueueMaxBytes: int64(ic.Queue.MaxBytes), QueueSegmentBytes: int64(ic.Queue.SegmentBytes),
			QueueFullPolicy: ic.Queue.FullPolicy, DeadLetterMaxBytes: int64(ic.DeadLetterMaxBytes),
		},
	}
}
