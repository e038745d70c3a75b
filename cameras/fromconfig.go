package cameras

import "citywatch/config"

// CameraFromConfig is the monitor's view of a configured camera. Package config owns the YAML keys, their
// defaults and validation; this is the one place they become the monitor's runtime types (plain durations, the
// password's value). A test in app fails when a field of CameraConfig is reached by no key here and is not
// listed as deliberately internal.
func CameraFromConfig(c config.CameraConfig) CameraConfig {
	return CameraConfig{
		ID: c.ID, Name: c.Name, Site: c.Site, Labels: c.Labels, URL: c.URL, Username: c.Username,
		Password: c.Password.Value(), TLSFingerprint: c.TLSFingerprint, Transport: c.Transport,
		StallTimeout: c.StallTimeout.Std(), ReconnectMin: c.ReconnectMin.Std(), ReconnectMax: c.ReconnectMax.Std(),
		Jitter: c.Jitter, KeyframeTimeout: c.KeyframeTimeout.Std(), MinFPSRatio: c.MinFPSRatio,
		MaxLossRatio: c.MaxLossRatio,
	}
}
