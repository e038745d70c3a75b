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
// acknowledgement or silencing changed. It does nothing while no one is subscribed.
func (a *App) runLive(ctx context.Context) {
	t := time.NewTicker(a.bus.BatchInterval())
	defer t.Stop()
	devices := map[string]time.Time{}
	alertsSeen := map[int64]string{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a.bus.Subscribers() == 0 {
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
		list, err := a.alerts.Alerts(alerts.AlertFilter{Limit: 500})
		if err != nil {
			continue
		}
		for _, al := range list {
			sig := string(al.State) + "|" + al.AckedBy + "|" + strconv.Itoa(len(al.SilencedBy)) + "|" + strconv.Itoa(len(al.InhibitedBy))
			if alertsSeen[al.ID] == sig {
				continue
			}
			alertsSeen[al.ID] = sig
			a.publish("alert", strconv.FormatInt(al.ID, 10), al.Labels["site"], al)
		}
	}
}

func (a *App) publish(kind, key, site string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	a.bus.Publish(live.Event{Kind: kind, Key: key, Site: site, Data: b})
}
