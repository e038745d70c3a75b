package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // ward.sites[].time_zone validates and runs the same on hosts without a zoneinfo database
)

// WardConfig configures the quarantine ward (package ward): rounds per site, night hours, the occupant signals
// and the export. Rooms, occupants and bindings are data (the ward API), not configuration.
type WardConfig struct {
	// Interval is how often the ward engine publishes its series (ward_occupant_info, ...) and evaluates rounds
	// and signals. It defaults to 15s.
	Interval Duration `yaml:"interval"`
	// ExportStep is the resolution of wearable readings in the FHIR export. It defaults to 5m.
	ExportStep Duration `yaml:"export_step"`
	// Signals are the thresholds of "wearable removed" and "possible leave".
	Signals WardSignalsConfig `yaml:"signals"`
	// Sites are the per-site settings. It defaults to none: every site gets the defaults of a site entry.
	Sites []WardSiteConfig `yaml:"sites"`
}

// WardSignalsConfig are the thresholds of the occupant signals.
type WardSignalsConfig struct {
	// Recent is how far back the signals look (silence, heart rate, door motion). It defaults to 2m.
	Recent Duration `yaml:"recent"`
	// RemovedBelow is the skin temperature (°C) under which a wearable without heart rate counts as removed. It
	// defaults to 34.0.
	RemovedBelow float64 `yaml:"removed_below"`
	// MotionThreshold is the door-zone motion score (camera_motion_score) that counts as motion. It defaults
	// to 0.05.
	MotionThreshold float64 `yaml:"motion_threshold"`
	// RSSIDrop is how many dB below its half-hour median the wearable's RSSI must fall to count as moving away
	// from the room's gateway. It defaults to 10.
	RSSIDrop float64 `yaml:"rssi_drop"`
}

// WardSiteConfig are one site's ward settings.
type WardSiteConfig struct {
	// Site is the site label. Required, unique.
	Site string `yaml:"site"`
	// TimeZone is the IANA zone of the rounds and night hours, e.g. "Europe/Prague". It defaults to "UTC".
	TimeZone string `yaml:"time_zone"`
	// Rounds are the round times, local "HH:MM". It defaults to ["08:00", "20:00"].
	Rounds []string `yaml:"rounds"`
	// RoundWindow is how far from the round time a reading counts for it; the round closes this long after its
	// time, and occupants without a reading raise WardRoundMissed. It defaults to 30m.
	RoundWindow Duration `yaml:"round_window"`
	// Night is the night hours "HH:MM-HH:MM", local, for "possible leave" and the report's door events. It
	// defaults to "22:00-06:00".
	Night string `yaml:"night"`
	// FeverThreshold (°C) marks a round reading febrile. It defaults to 38.0.
	FeverThreshold float64 `yaml:"fever_threshold"`
}

// defaultWard is the ward section's defaults; Default uses it.
func defaultWard() WardConfig {
	return WardConfig{Interval: Duration(15 * time.Second), ExportStep: Duration(5 * time.Minute),
		Signals: WardSignalsConfig{Recent: Duration(2 * time.Minute), RemovedBelow: 34, MotionThreshold: 0.05, RSSIDrop: 10}}
}

// DefaultWardSite returns a ward site entry with its defaults; list items in a file start from it.
func DefaultWardSite() WardSiteConfig {
	return WardSiteConfig{TimeZone: "UTC", Rounds: []string{"08:00", "20:00"}, RoundWindow: Duration(30 * time.Minute),
		Night: "22:00-06:00", FeverThreshold: 38.0}
}

// ParseClock parses a local time of day "HH:MM" into the offset from midnight.
func ParseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || hh > 23 || mm > 59 || hh < 0 || mm < 0 {
		return 0, fmt.Errorf("want a time of day HH:MM; got %q", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// NightHours parses the night key "HH:MM-HH:MM".
func (s WardSiteConfig) NightHours() (from, to time.Duration, err error) { return ParseNight(s.Night) }

// ParseNight parses night hours "HH:MM-HH:MM" (local; they may wrap midnight) into offsets from midnight.
func ParseNight(s string) (from, to time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("want \"HH:MM-HH:MM\"; got %q", s)
	}
	if from, err = ParseClock(a); err == nil {
		to, err = ParseClock(b)
	}
	if err == nil && from == to {
		err = fmt.Errorf("the night must not be empty; got %q", s)
	}
	return from, to, err
}

func (c *Config) validateWard(v validator) {
	w := &c.Ward
	v.positive("ward.interval", w.Interval)
	v.positive("ward.export_step", w.ExportStep)
	v.positive("ward.signals.recent", w.Signals.Recent)
	if w.Signals.RemovedBelow < 20 || w.Signals.RemovedBelow > 37 {
		v.add("ward.signals.removed_below", "must be between 20 and 37 (°C); got %v", w.Signals.RemovedBelow)
	}
	if w.Signals.MotionThreshold <= 0 || w.Signals.MotionThreshold >= 1 {
		v.add("ward.signals.motion_threshold", "must be > 0 and < 1; got %v", w.Signals.MotionThreshold)
	}
	if w.Signals.RSSIDrop <= 0 {
		v.add("ward.signals.rssi_drop", "must be > 0 (dB); got %v", w.Signals.RSSIDrop)
	}
	seen := map[string]bool{}
	for i, s := range w.Sites {
		p := indexPath("ward.sites", i)
		v.siteKey(p+".site", s.Site, seen)
		if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "" || s.TimeZone == "Local" {
			v.add(p+".time_zone", "must be an IANA time zone such as \"Europe/Prague\"; got %q", s.TimeZone)
		}
		if len(s.Rounds) == 0 {
			v.add(p+".rounds", "must list at least one round time")
		}
		for j, r := range s.Rounds {
			if _, err := ParseClock(r); err != nil {
				v.add(indexPath(p+".rounds", j), "%v", err)
			}
		}
		if s.RoundWindow <= 0 || s.RoundWindow > Duration(6*time.Hour) {
			v.add(p+".round_window", "must be > 0 and at most 6h; got %q", s.RoundWindow.String())
		}
		if _, _, err := s.NightHours(); err != nil {
			v.add(p+".night", "%v", err)
		}
		if s.FeverThreshold < 37 || s.FeverThreshold > 41 {
			v.add(p+".fever_threshold", "must be between 37 and 41 (°C); got %v", s.FeverThreshold)
		}
	}
}
