package analyze

import (
	"fmt"

	"citywatch/cameras/privacymask"
	"citywatch/cameras/zone"
	"citywatch/config"
)

// CameraFromConfig is the analyzer's view of a configured camera: its id, site, zones (parsed) and analysis
// rate. The detector thresholds have no YAML keys yet; they keep their defaults (see the internal list of the
// config coverage test in app).
func CameraFromConfig(c config.CameraConfig) (CameraConfig, error) {
	out := CameraConfig{ID: c.ID, Site: c.Site, AnalysisFPS: c.AnalysisFPS}
	for i, s := range c.Zones {
		z, err := zone.Parse(s) // validated at load
		if err != nil {
			return CameraConfig{}, fmt.Errorf("zones[%d]: %w", i, err)
		}
		out.Zones = append(out.Zones, z)
	}
	masks, err := c.PrivacyMaskPolygons() // validated at load
	if err != nil {
		return CameraConfig{}, fmt.Errorf("privacy_masks: %w", err)
	}
	out.PrivacyMask = privacymask.Mask(masks)
	return out, nil
}
