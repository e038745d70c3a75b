package media

import "citywatch/config"

// CameraFromConfig is the media view of a configured camera: its id, site and clip window.
func CameraFromConfig(c config.CameraConfig) CameraConfig {
	return CameraConfig{ID: c.ID, Site: c.Site, PreSeconds: c.ClipPre.Std().Seconds(), PostSeconds: c.ClipPost.Std().Seconds()}
}

// ConfigFromConfig is the media configuration of the media section, clips under dataDir; Cameras are added by
// the caller (configured and demo cameras alike).
func ConfigFromConfig(dataDir string, m config.MediaConfig) Config {
	return Config{DataDir: dataDir, RingSeconds: m.RingSeconds.Std().Seconds(), Retention: m.ClipRetention.Std(),
		MaxClipBytes: int64(m.ClipMaxBytes)}
}
