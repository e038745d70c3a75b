package config

// AlertsConfig configures rule evaluation and how alert notifications are grouped.
type AlertsConfig struct {
	// EvalInterval is how often rules are evaluated. It defaults to 1s.
	EvalInterval Duration `yaml:"eval_interval"`
	// RuleFiles are Prometheus-style rule files (PromQL rules and citywatch event rules). Relative paths are
	// relative to the directory of the configuration file, like *_file keys; each file must exist. It defaults
	// to none.
	RuleFiles []string `yaml:"rule_files"`
	// ExternalURL is the base URL of links in notifications (http or https). It defaults to
	// "http://<http.listen>" ("https://" with http.tls; the hostname when the listen host is empty or 0.0.0.0
	// or ::); it is left empty when http.listen has port 0, for the application to fill in once bound.
	ExternalURL string `yaml:"external_url"`
	// GroupBy are the labels whose values form a notification group. It defaults to ["alertname", "site"];
	// an explicit [] puts all alerts in one group.
	GroupBy []string `yaml:"group_by"`
	// GroupWait is how long a new group waits for more alerts before its first notification; 0 sends at once.
	// It defaults to 10s (Alertmanager's 30s is too slow for a fever alert).
	GroupWait Duration `yaml:"group_wait"`
	// GroupInterval is the least time between two notifications of a group about new or resolved alerts. It
	// defaults to 1m.
	GroupInterval Duration `yaml:"group_interval"`
	// RepeatInterval is how often a firing, unacknowledged alert is notified again (a reminder); >=
	// group_interval. It defaults to 1h.
	RepeatInterval Duration `yaml:"repeat_interval"`
	// Canary periodically sends a synthetic alert end to end, to prove the notification path works.
	Canary CanaryConfig `yaml:"canary"`
	// Flap is the flap detection of every rule without its own flap_* keys.
	Flap FlapConfig `yaml:"flap"`
}

// FlapConfig configures flap detection: an alert that fires Count times within Window is shown and notified
// once, as flapping, until it has been steady for Window.
type FlapConfig struct {
	// Count is how many fires within Window make an alert flapping; 0 turns flap detection off. It defaults
	// to 3.
	Count int `yaml:"count"`
	// Window is the detection window and how long a flapping alert must be steady to settle. It defaults to
	// 10m.
	Window Duration `yaml:"window"`
	// Notify is "transitions" (one notification when flapping starts, one when it settles) or "none" (none
	// while flapping). It defaults to "transitions".
	Notify string `yaml:"notify"`
}

// CanaryConfig configures the synthetic end-to-end alert.
type CanaryConfig struct {
	// Enabled runs the canary. It defaults to false.
	Enabled bool `yaml:"enabled"`
	// Interval is how often a synthetic sample is sent. It defaults to 1m.
	Interval Duration `yaml:"interval"`
	// Timeout is how long the synthetic sample may take to reach a delivery before the canary fails. It
	// defaults to 30s.
	Timeout Duration `yaml:"timeout"`
	// FallbackReceiver is the notify.receivers name told when the canary fails. Required when enabled.
	FallbackReceiver string `yaml:"fallback_receiver"`
}
