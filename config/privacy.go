package config

import (
	"time"

	"citywatch/cameras/zone"
)

// DefaultRetentionAfterRelease is how long a ward occupant's personal data are kept after their stay ended
// unless privacy.retention_after_release or a site's setting says otherwise.
const DefaultRetentionAfterRelease = Duration(30 * 24 * time.Hour)

// PrivacyConfig configures privacy by purpose: how long a quarantine ward's occupants' personal data (personal
// fields, manual readings, the clips of their room's camera during the stay, audit records naming them) are
// kept after their stay ended. Privacy masks are set per camera (cameras[].privacy_masks).
type PrivacyConfig struct {
	// RetentionAfterRelease is how long personal data are kept after an occupant's release (or transfer, or
	// hospitalisation), then deleted or pseudonymised with a deletion record in the audit trail. It defaults
	// to 30d.
	RetentionAfterRelease Duration `yaml:"retention_after_release"`
	// RetentionInterval is how often the purge runs. It defaults to 1h.
	RetentionInterval Duration `yaml:"retention_interval"`
	// Sites overrides the settings per site, keyed by site. It defaults to none.
	Sites map[string]PrivacySiteConfig `yaml:"sites"`
}

// PrivacySiteConfig is one site's privacy setting.
type PrivacySiteConfig struct {
	// RetentionAfterRelease overrides privacy.retention_after_release for the site. It defaults to that value.
	RetentionAfterRelease Duration `yaml:"retention_after_release"`
}

// defaultPrivacy are privacy's defaults; Default uses them.
func defaultPrivacy() PrivacyConfig {
	return PrivacyConfig{RetentionAfterRelease: DefaultRetentionAfterRelease, RetentionInterval: Duration(time.Hour)}
}

// SiteRetentionAfterRelease returns the retention period of every site with its own setting (a site set to
// 0 takes the global value).
func (p PrivacyConfig) SiteRetentionAfterRelease() map[string]time.Duration {
	out := make(map[string]time.Duration, len(p.Sites))
	for site, s := range p.Sites {
		d := s.RetentionAfterRelease
		if d == 0 {
			d = p.RetentionAfterRelease
		}
		out[site] = d.Std()
	}
	return out
}

// PrivacyMaskPolygons returns the camera's privacy masks as polygons in relative coordinates (validated at
// load).
func (c CameraConfig) PrivacyMaskPolygons() ([][][2]float64, error) {
	var out [][][2]float64
	for _, m := range c.PrivacyMasks {
		z, err := zone.Parse(m)
		if err != nil {
			return nil, err
		}
		out = append(out, z.Polygon)
	}
	return out, nil
}

// maxPrivacyMasks bounds a camera's masks, as cameras/privacymask does.
const maxPrivacyMasks = 16

func (c *Config) validatePrivacy(v validator) {
	p := &c.Privacy
	v.positive("privacy.retention_after_release", p.RetentionAfterRelease)
	v.positive("privacy.retention_interval", p.RetentionInterval)
	for _, site := range sortedKeys(p.Sites) {
		sp := "privacy.sites." + site
		if site == "" {
			v.add("privacy.sites", "site names must not be empty")
		}
		v.text(sp, site)
		if d := p.Sites[site].RetentionAfterRelease; d < 0 {
			v.add(sp+".retention_after_release", "must not be negative; got %s", quote(d.String()))
		}
	}
	for i, cam := range c.Cameras {
		mp := indexPath("cameras", i) + ".privacy_masks"
		if len(cam.PrivacyMasks) > maxPrivacyMasks {
			v.add(mp, "at most %d masks; got %d", maxPrivacyMasks, len(cam.PrivacyMasks))
		}
		names := map[string]bool{}
		for j, m := range cam.PrivacyMasks {
			jp := indexPath(mp, j)
			z, err := zone.Parse(m)
			switch {
			case err != nil:
				v.add(jp, "%v; got %s", err, quote(m))
			case names[z.Name]:
				v.add(jp, "duplicate mask name %s", quote(z.Name))
			}
			names[z.Name] = true
		}
	}
}
