package app

import (
	"errors"
	"fmt"
	"strings"

	"citywatch/alerts"
	"citywatch/alerts/notify"
	"citywatch/cameras/analyze"
	"citywatch/config"
)

// Check validates what serve validates beyond the configuration file itself, without opening the data
// directory or listening on anything: the rule files (every rule, expression and template, with file:line),
// the references of event rules to camera ids and zones, and the notification receivers as the outbox
// compiles them (templates executed with sample alerts). New and Reload run the same functions (loadRules,
// notify.ConfigFromConfig and the outbox's validation), so `citywatch check` and `citywatch serve` cannot disagree.
func Check(cfg *config.Config) error {
	a := &App{cfg: cfg}
	_, rulesErr := a.loadRules(cfg)
	return errors.Join(rulesErr, prefixed("notify.", notify.ConfigFromConfig(cfg).Validate()))
}

// checkRouteRefs reports routes that match an alert name no loaded rule defines: such a route never matches,
// so the alerts meant for its receiver would silently go elsewhere (a typo like "Fevr").
func checkRouteRefs(cfg *config.Config, rules []alerts.Rule) error {
	names := make(map[string]bool, len(rules))
	for _, r := range rules {
		names[r.Alert] = true
	}
	var errs []error
	for i, rt := range cfg.Notify.Routes {
		if name, ok := rt.Match["alertname"]; ok && !names[name] {
			errs = append(errs, fmt.Errorf("notify.routes[%d].match.alertname: no rule defines alert %q, so the route never matches", i, name))
		}
	}
	return errors.Join(errs...)
}

// cameraRefs are the configured cameras as the event rules may refer to them: a camera without zones has the
// analyzer's whole-picture zone.
func cameraRefs(cfg *config.Config) []alerts.CameraRef {
	refs := make([]alerts.CameraRef, 0, len(cfg.Cameras))
	for _, c := range cfg.Cameras {
		ref := alerts.CameraRef{ID: c.ID}
		for _, z := range c.Zones {
			if zone, err := analyze.ParseZone(z); err == nil { // validated at load
				ref.Zones = append(ref.Zones, zone.Name)
			}
		}
		if len(c.Zones) == 0 {
			ref.Zones = []string{analyze.DefaultZone}
		}
		refs = append(refs, ref)
	}
	return refs
}

// prefixed puts prefix before each of the joined errors of err, so the outbox's own key paths
// ("receivers[0].template") read as configuration keys ("notify.receivers[0].template").
func prefixed(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var lines []string
	for line := range strings.SplitSeq(strings.TrimPrefix(err.Error(), "notify: invalid config: "), "\n") {
		lines = append(lines, prefix+line)
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}
