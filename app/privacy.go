package app

import (
	"context"
	"fmt"
	"sync"

	"citywatch/cameras/analyze"
	"citywatch/cameras/media"
	"citywatch/cameras/privacymask"
	"citywatch/config"
	"citywatch/retention"
)

// cameraPrivacyMask returns a configured camera's privacy mask (validated at load).
func cameraPrivacyMask(i int, c config.CameraConfig) (privacymask.Mask, error) {
	polys, err := c.PrivacyMaskPolygons()
	if err != nil {
		return nil, fmt.Errorf("cameras[%d].privacy_masks: %w", i, err)
	}
	m := make(privacymask.Mask, 0, len(polys))
	for _, p := range polys {
		m = append(m, p)
	}
	return m, nil
}

// analysisPrivacy sets the configured cameras' privacy masks on the analysis configs (configured cameras come
// first): the analysis ignores what is behind them.
func (a *App) analysisPrivacy(acams []analyze.CameraConfig) error {
	for i, c := range a.cfg.Cameras {
		m, err := cameraPrivacyMask(i, c)
		if err != nil {
			return err
		}
		acams[i].PrivacyMask = m
		for _, z := range zonesBehindMask(acams[i].Zones, m) {
			a.log.Warn("motion zone lies entirely behind the camera's privacy masks: it never detects motion",
				"component", "analyze", "camera", c.ID, "zone", z)
		}
	}
	return nil
}

// zonesBehindMask names the zones that the mask covers entirely (on a 160×90 raster), whose motion the
// analysis therefore never sees: most likely a configuration mistake.
func zonesBehindMask(zones []analyze.Zone, m privacymask.Mask) []string {
	const w, h = 160, 90
	hidden := m.Bitmap(w, h)
	if hidden == nil {
		return nil
	}
	var out []string
	for _, z := range zones {
		zone := privacymask.Mask{z.Polygon}.Bitmap(w, h)
		covered := true
		for i, in := range zone {
			if in && !hidden[i] {
				covered = false
				break
			}
		}
		if covered {
			out = append(out, z.Name)
		}
	}
	return out
}

// mediaPrivacy sets the configured cameras' privacy masks on the media configs (configured cameras come
// first): snapshots and clips are masked, live view needs video_unmasked.
func (a *App) mediaPrivacy(mcams []media.CameraConfig) error {
	for i, c := range a.cfg.Cameras {
		m, err := cameraPrivacyMask(i, c)
		if err != nil {
			return err
		}
		mcams[i].PrivacyMask = m
	}
	return nil
}

// retentionConfig translates the privacy section (validated at load).
func retentionConfig(p config.PrivacyConfig) retention.Config {
	return retention.Config{AfterRelease: p.RetentionAfterRelease.Std(), Interval: p.RetentionInterval.Std(),
		Sites: p.SiteRetentionAfterRelease()}
}

// buildRetention builds retention by purpose over the occupants' store (the ward), the clips and the audit
// trail. Without an occupants store there is nothing kept for a purpose and no engine is built.
//
// The ward plugs in with a small adapter (retention.Occupants): EndedBefore lists the occupancies whose status
// is not active and whose status time is before t, each with its site, id, case id, personal name and contact
// (as Names), the camera bound to its room, and its start and status time (End); Purge deletes the personal
// fields and manual readings of that one occupancy (not of every occupancy ended before a time: sites have
// their own periods).
func (a *App) buildRetention(occ retention.Occupants) error {
	if occ == nil {
		return nil
	}
	deps := retention.Deps{Occupants: occ, DB: a.meta, Logger: a.log, Registerer: a.reg}
	if a.media != nil {
		deps.Clips = a.media
	}
	if a.audit != nil {
		deps.Audit = a.audit
	}
	var err error
	a.retention, err = retention.New(retentionConfig(a.cfg.Privacy), deps)
	return err
}

// runRetention runs retention by purpose until ctx ends; wg waits for it.
func (a *App) runRetention(ctx context.Context, wg *sync.WaitGroup) {
	if a.retention == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = a.retention.Run(ctx)
	}()
}
