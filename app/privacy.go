package app

import (
	"context"
	"errors"
	"sync"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/cameras/analyze"
	"citywatch/cameras/privacymask"
	"citywatch/config"
	"citywatch/retention"
)

// warnZonesBehindMask logs the configured cameras' motion zones that their privacy masks cover entirely
// (configured cameras come first in acams; analyze.CameraFromConfig set the masks).
func (a *App) warnZonesBehindMask(acams []analyze.CameraConfig) {
	for i, c := range a.cfg.Cameras {
		for _, z := range zonesBehindMask(acams[i].Zones, acams[i].PrivacyMask) {
			a.log.Warn("motion zone lies entirely behind the camera's privacy masks: it never detects motion",
				"component", "analyze", "camera", c.ID, "zone", z)
		}
	}
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

// buildRetention builds retention by purpose over the occupants' store (the ward), the clips and the audit
// trail. Without an occupants store there is nothing kept for a purpose and no engine is built.
//
// The ward's store is the occupants store (ward.Store implements retention.Occupants): EndedBefore lists the
// occupancies whose status is not active and whose status time is before t, each with its site, id, case id,
// personal name and contact (as Names), the camera bound to its room, and its start and status time (End);
// Purge deletes the personal fields and manual readings of that one occupancy (sites have their own periods)
// and pseudonymises the ward events naming it. buildWard calls it. The alert history and the notification
// outbox rows naming the occupant (a fever alert carries room and case id) are pseudonymised through
// alertHistory.
func (a *App) buildRetention(occ retention.Occupants) error {
	if occ == nil {
		return nil
	}
	deps := retention.Deps{Occupants: occ, DB: a.meta, Logger: a.log, Registerer: a.reg, Clock: a.opts.RetentionClock}
	if a.media != nil {
		deps.Clips = a.media
	}
	if a.audit != nil {
		deps.Audit = a.audit
	}
	if a.alerts != nil {
		deps.Alerts = alertHistory{a.alerts, a.outbox}
	}
	if a.db != nil {
		deps.Series = occupantSeries{a.db} // app/retention_series.go
	}
	if a.ward != nil {
		deps.Periods = a.ward // the sites' retention days set over the ward API
	}
	var err error
	a.retention, err = retention.New(retention.ConfigFromConfig(a.cfg.Privacy), deps)
	return err
}

// alertHistory is retention's view of the alerts (retention.Alerts): the manager's history of settled alerts,
// then the outbox rows of those alerts (their fingerprints follow) and of any other alert naming the occupant.
type alertHistory struct {
	m *alerts.Manager
	o *notify.Outbox
}

func (h alertHistory) Pseudonymise(ctx context.Context, site string, subjects []string, pseudo string) (int64, error) {
	n, fps, errA := h.m.Pseudonymise(ctx, site, subjects, pseudo)
	if h.o == nil {
		return n, errA
	}
	k, errO := h.o.Pseudonymise(ctx, site, subjects, pseudo, fps)
	return n + k, errors.Join(errA, errO)
}

// runRetention runs retention by purpose until ctx ends; wg waits for it.
func (a *App) runRetention(ctx context.Context, wg *sync.WaitGroup) {
	if a.retention != nil {
		goRun(ctx, wg, a.retention.Run)
	}
}

// The demo's camera with a privacy mask: cam2 films a room of q-hotel-1 whose bed (the lower right of the
// picture) is painted black into its snapshots and clips, and whose live view is refused to users without
// video_unmasked (health staff see the masked snapshot and why).
const (
	demoMaskedCamera = "cam2"
	demoBedMask      = "bed: 0.5,0.45 1,0.45 1,1 0.5,1"
)

// withDemoPrivacyMask makes the demo's demoMaskedCamera a configured camera with a privacy mask (cameras of
// Options carry none) and returns the other cameras.
func withDemoPrivacyMask(cfg *config.Config, cams []cameras.CameraConfig) []cameras.CameraConfig {
	out := make([]cameras.CameraConfig, 0, len(cams))
	for _, c := range cams {
		if c.ID != demoMaskedCamera {
			out = append(out, c)
			continue
		}
		cc := config.DefaultCamera()
		cc.ID, cc.Name, cc.Site, cc.URL = c.ID, "Room camera 2 (bed masked)", c.Site, c.URL
		cc.Username, cc.Password = c.Username, config.Secret(c.Password)
		cc.PrivacyMasks = []string{demoBedMask}
		cfg.Cameras = append(cfg.Cameras, cc)
	}
	return out
}
