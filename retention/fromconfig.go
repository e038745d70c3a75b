package retention

import "citywatch/config"

// ConfigFromConfig is retention's view of the privacy section (validated at load): the default period after
// release, the sites' own periods and the sweep interval. A test in app fails when a field of Config is
// reached by no key and is not listed as deliberately internal.
func ConfigFromConfig(p config.PrivacyConfig) Config {
	return Config{AfterRelease: p.RetentionAfterRelease.Std(), Interval: p.RetentionInterval.Std(),
		Sites: p.SiteRetentionAfterRelease()}
}
