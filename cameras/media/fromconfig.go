package media

import (
	"fmt"

	"citywatch/cameras/privacymask"
	"citywatch/config"
)

// CameraFromConfig is the media view of a configured camera: its id, site, clip window and privacy mask.
func CameraFromConfig(c config.CameraConfig) (CameraConfig, error) {
	masks, err := c.PrivacyMaskPolygons() // validated at load
	if err != nil {
		return CameraConfig{}, fmt.Errorf("privacy_masks: %w", err)
	}
	return CameraConfig{ID: c.ID, Site: c.Site, PreSeconds: c.ClipPre.Std().Seconds(), PostSeconds: c.ClipPost.Std().Seconds(),
		PrivacyMask: privacymask.Mask(masks)}, nil
}

// ConfigFromConfig is the media configuration of the media section, clips under dataDir; Cameras are added by
// the caller (configured and demo cameras alike).
func ConfigFromConfig(dataDir string, m config.MediaConfig) Config {
	return Config{DataDir: dataDir, RingSeconds: m.RingSeconds.Std().Seconds(),
		RingMaxBytes: int64(m.RingMaxBytes), Retention: m.ClipRetention.Std(),
		MaxClipBytes: int64(m.ClipMaxBytes)}
}
