package tsdb

import (
	"path/filepath"

	"citywatch/config"
)

// ConfigFromConfig is the embedded TSDB's configuration: <data_dir>/tsdb, storage.tsdb, and the ingest door's
// max_future_skew, which the TSDB applies to every producer.
func ConfigFromConfig(cfg *config.Config) Config {
	return Config{
		Dir:              filepath.Join(cfg.DataDir, "tsdb"),
		Retention:        cfg.Storage.TSDB.Retention.Std(),
		OutOfOrderWindow: cfg.Storage.TSDB.OutOfOrderWindow.Std(),
		MaxFutureSkew:    cfg.Ingest.MaxFutureSkew.Std(),
		MaxHeadSeries:    cfg.Storage.TSDB.MaxHeadSeries,
	}
}
