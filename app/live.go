package app

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"citywatch/alerts"
	"citywatch/dashboards/live"
)

// runLive feeds the live bus once per batch interval with what changed since the last round: devices whose
// last message is newer, every camera's status (its fps and bitrate move every second), alerts whose state,
// acknowledgement or silencing changed. It does nothing while no one is subscribed. After every whole round
// it marks the bus current, so the pings tell pages that what they show is up to date; a round that cannot
// finish (the alert store failing) leaves the mark behind and pages call themselves stale.
func (a *App) runLive(ctx context.Context) {
	t := time.NewTicker(a.bus.BatchInterval())
	defer t.Stop()
	devices := map[string]time.Time{}
	alertsSeen := map[int64]string{}
	alertsFailing := false // logged once per failure spell
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a.bus.Subscribers() == 0 {
			a.bus.MarkCurrent() // nothing to deliver: a page subscribing now loads the lists over REST
			continue
		}
		for _, d := range a.pipeline.Devices() {
			if d.LastSeen.Equal(devices[d.ID]) {
				continue
			}
			devices[d.ID] = d.LastSeen
			a.publish("device", d.ID, d.Labels["site"], d)
		}
		if a.cams != nil {
			for _, c := range a.cams.Cameras() {
				a.publish("camera", c.ID, c.Site, c)
			}
		}
		list, err := a.alerts.Alerts(ctx, alerts.AlertFilter{Limit: 500})
		if err != nil {
			if !alertsFailing {
				a.log.Warn("live updates: listing alerts failed; dashboards will show themselves stale", "component", "live", "err", err)
			}
			alertsFailing = true
			continue
		}
		alertsFailing = false
		for _, al := range list {
			sig := string(al.State) + "|" + al.AckedBy + "|" + strconv.Itoa(len(al.SilencedBy)) + "|" + strconv.Itoa(len(al.InhibitedBy))
			if alertsSeen[al.ID] == sig {
				continue
			}
			alertsSeen[al.ID] = sig
			a.publish("alert", strconv.FormatInt(al.ID, 10), al.Labels["site"], al)
		}
		a.bus.MarkCurrent()
	}
}

func (a *App) publish(kind, key, site string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	a.bus.Publish(live.Event{Kind: kind, Key: key, Site: site, Data: b})
}
