package app

import (
	"context"
	"math"
	"time"

	"citywatch/alerts"
	"citywatch/alerts/canary"
	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/cameras/analyze"
	"citywatch/config"
	"citywatch/dashboards/auth"
	"citywatch/deploy/rules"
)

// loadRules reads the configured rule files, or the embedded default rule pack when none are configured (the
// demo pack in the demo), and checks the references of the operator's event rules to cameras and of the
// routes to alert names. New, Reload and Check (`citywatch check`) all load rules through it.
func (a *App) loadRules(cfg *config.Config) ([]alerts.Rule, error) {
	var list []alerts.Rule
	var err error
	switch {
	case len(cfg.Alerts.RuleFiles) > 0:
		list, err = alerts.LoadRuleFiles(cfg.Alerts.RuleFiles...)
		if err == nil { // the operator's rules only: the built-in packs are generic (NightDoorMotion's "door")
			err = alerts.CheckCameraRefs(list, cameraRefs(cfg))
		}
	case a.opts.Demo:
		list, err = alerts.ParseRuleFile(rules.DemoName, []byte(rules.Demo))
	default:
		list, err = alerts.ParseRuleFile(rules.DefaultName, []byte(rules.Default))
	}
	if err == nil && cfg.Alerts.Canary.Enabled {
		list = append(list, canary.Rule()) // kept across reloads
	}
	if err == nil {
		list, err = withSelfRules(list) // IngestStalled, IngestSeriesLimit
	}
	if err == nil {
		list, err = withWardRules(list) // WardRoundMissed, WearableRemoved, PossibleLeave (app/ward.go)
	}
	if err == nil {
		err = checkRouteRefs(cfg, list)
	}
	return list, err
}

// buildCanary builds the watchdog that proves, every interval, that a sample still becomes a firing alert and
// a delivery; when it does not, it alarms the fallback receiver directly, outside the outbox it doubts.
func (a *App) buildCanary() error {
	cc := a.cfg.Alerts.Canary
	if !cc.Enabled {
		return nil
	}
	var err error
	a.canary, err = canary.New(canary.ConfigFromConfig(cc), canary.Deps{Appender: a.db, Alerts: canary.ManagerAlerts(a.alerts),
		Deliveries: a.outbox, Fallback: fallback{a.outbox, cc.FallbackReceiver}, Logger: a.log, Registerer: a.reg})
	return err
}

// fallback sends the canary's alarm straight to one receiver.
type fallback struct {
	outbox   *notify.Outbox
	receiver string
}

func (f fallback) Notify(ctx context.Context, msg string) error {
	now := time.Now()
	return f.outbox.SendDirect(ctx, f.receiver, notify.Change{Fingerprint: "citywatch-canary-failing",
		Name: "CitywatchCanaryFailing", State: "firing", Value: math.NaN(), StartsAt: now,
		Labels:      map[string]string{"alertname": "CitywatchCanaryFailing", "severity": "critical"},
		Annotations: map[string]string{"summary": msg}})
}

// buildAlerting builds the notification outbox and the alert manager on the metadata database, so an alert
// change and its notifications commit in one transaction.
func (a *App) buildAlerting() error {
	ruleList, err := a.loadRules(a.cfg)
	if err != nil {
		return err
	}
	ac := a.cfg.Alerts
	grouping := alerts.GroupingFromConfig(ac)
	if a.opts.Demo {
		grouping = alerts.DemoGrouping()
	}
	nc := notify.ConfigFromConfig(a.cfg)
	nc.GroupBy = grouping.GroupBy // the Alertmanager format's groupLabels and groupKey
	deps := notify.Deps{DB: a.meta, Logger: a.log, Registerer: a.reg}
	if a.broker != nil {
		// Receivers of format mqtt, and notify.mqtt.enabled (every notification), publish on the embedded broker.
		deps.MQTT = a.broker
		nc.PublishMQTT = a.cfg.Notify.MQTT.Enabled
	} else if a.cfg.Notify.MQTT.Enabled {
		a.log.Info("alerts are not published on MQTT: the embedded broker is disabled", "component", "notify")
	}
	if a.outbox, err = notify.NewOutbox(nc, deps); err != nil {
		return err
	}
	alc := alerts.ConfigFromConfig(ac)
	alc.Rules, alc.Grouping = ruleList, grouping
	a.alerts, err = alerts.New(alc,
		alerts.Deps{Queryable: a.db, Query: a.ruleQuery(), DB: a.meta, Outbox: a.outbox, Logger: a.log, Registerer: a.reg})
	if err != nil {
		return err
	}
	return a.buildCanary()
}

// ReloadRules re-reads the rule files; on any error the running rules stay.
func (a *App) ReloadRules() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	ruleList, err := a.loadRules(a.cfg)
	if err != nil {
		return err
	}
	return a.alerts.SetRules(ruleList)
}

// cameraEvent hands a camera state change to the event rules (camera offline for ≥ N s).
func (a *App) cameraEvent(e cameras.Event) {
	if a.alerts == nil {
		return
	}
	a.alerts.Event(alerts.Event{Kind: alerts.KindCameraState, Time: e.Time,
		Labels: map[string]string{"camera": e.CameraID, "site": e.Site, "state": string(e.To)}})
}

// analysisEvent hands motion and tamper changes to the event rules.
func (a *App) analysisEvent(e analyze.Event) {
	if e.Active && a.media != nil {
		// Evidence: a clip with the seconds before and after the motion or tamper event.
		reason := e.Kind + ":" + e.Zone + e.Tamper
		if _, err := a.media.StartClip(e.CameraID, reason, e.Time); err != nil {
			a.log.Debug("no clip for the event", "component", "media", "camera", e.CameraID, "err", err)
		}
	}
	if a.alerts == nil {
		return
	}
	ev := alerts.Event{Time: e.Time, Labels: map[string]string{"camera": e.CameraID, "site": e.Site}}
	switch e.Kind {
	case analyze.KindTamper:
		ev.Kind, ev.Labels["kind"] = alerts.KindCameraTamper, e.Tamper
	case analyze.KindMotion:
		ev.Kind, ev.Labels["zone"], ev.Value = alerts.KindMotion, e.Zone, e.Score
	default:
		return
	}
	if e.Kind == analyze.KindTamper && e.Active {
		ev.Value = 1
	}
	if e.Kind == analyze.KindMotion && !e.Active {
		ev.Value = 0
	}
	a.alerts.Event(ev)
}

// authConfig is the auth section's access control, with Options.AdminToken (CITYWATCH_ADMIN_TOKEN) in
// place of auth.admin_token when set.
func (a *App) authConfig() (auth.Config, error) {
	out, err := auth.ConfigFromConfig(a.cfg.Auth, a.cfg.DataDir, a.cfg.HTTP.TLS.Enabled())
	if a.opts.AdminToken != "" {
		out.AdminToken = a.opts.AdminToken
	}
	return out, err
}
