package canary

import "citywatch/config"

// ConfigFromConfig is the canary configuration of alerts.canary.
func ConfigFromConfig(cc config.CanaryConfig) Config {
	return Config{Enabled: cc.Enabled, Interval: cc.Interval.Std(), Timeout: cc.Timeout.Std(), FallbackReceiver: cc.FallbackReceiver}
}
