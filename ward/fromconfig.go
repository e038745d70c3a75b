package ward

import (
	"fmt"
	"time"

	"citywatch/config"
)

// ConfigFromConfig is the ward's view of the ward section and of the privacy section's retention periods
// (validated at load): the engine's intervals, the signals, each site's time zone, rounds and night hours,
// and the default periods the sites' settings start from (retention_days over the API). A test in app fails
// when a field of Config is reached by no key and is not listed as deliberately internal.
func ConfigFromConfig(wc config.WardConfig, p config.PrivacyConfig) (Config, error) {
	out := Config{Interval: wc.Interval.Std(), ExportStep: wc.ExportStep.Std(), Signals: SignalConfig{
		Recent: wc.Signals.Recent.Std(), RemovedBelow: wc.Signals.RemovedBelow, MotionThreshold: wc.Signals.MotionThreshold,
		RSSIDrop: wc.Signals.RSSIDrop}, RetentionAfterRelease: p.RetentionAfterRelease.Std(),
		SiteRetention: p.SiteRetentionAfterRelease()}
	for i, s := range wc.Sites {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return Config{}, fmt.Errorf("ward.sites[%d].time_zone: %w", i, err)
		}
		sc := SiteConfig{Site: s.Site, Location: loc, Window: s.RoundWindow.Std(), FeverThreshold: s.FeverThreshold}
		for j, r := range s.Rounds {
			d, err := config.ParseClock(r)
			if err != nil {
				return Config{}, fmt.Errorf("ward.sites[%d].rounds[%d]: %w", i, j, err)
			}
			sc.Rounds = append(sc.Rounds, d)
		}
		if sc.NightFrom, sc.NightTo, err = s.NightHours(); err != nil {
			return Config{}, fmt.Errorf("ward.sites[%d].night: %w", i, err)
		}
		out.Sites = append(out.Sites, sc)
	}
	return out, nil
}
