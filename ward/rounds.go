package ward

import (
	"math"
	"sort"
	"time"
)

// SiteConfig is one site's ward settings: round schedule, time zone, night hours and thresholds.
type SiteConfig struct {
	// Site is the site label.
	Site string
	// Location is the site's time zone for rounds and night hours. It defaults to UTC.
	Location *time.Location
	// Rounds are the round times as offsets from local midnight. They default to 08:00 and 20:00.
	Rounds []time.Duration
	// Window is how far from the round a reading may be to count for it; the round closes Window after its
	// time. It defaults to 30m.
	Window time.Duration
	// NightFrom and NightTo are the night hours as offsets from local midnight (NightFrom > NightTo wraps
	// midnight). They default to 22:00 and 06:00.
	NightFrom, NightTo time.Duration
	// FeverThreshold marks a round reading febrile at or above it. It defaults to 38.0 °C.
	FeverThreshold float64
}

// DefaultSiteConfig returns the settings of a site the configuration does not list.
func DefaultSiteConfig(site string) SiteConfig { return SiteConfig{Site: site}.withDefaults() }

func (c SiteConfig) withDefaults() SiteConfig {
	if c.Location == nil {
		c.Location = time.UTC
	}
	if len(c.Rounds) == 0 {
		c.Rounds = []time.Duration{8 * time.Hour, 20 * time.Hour}
	}
	if c.Window <= 0 {
		c.Window = 30 * time.Minute
	}
	if c.NightFrom == 0 && c.NightTo == 0 {
		c.NightFrom, c.NightTo = 22*time.Hour, 6*time.Hour
	}
	if c.FeverThreshold == 0 {
		c.FeverThreshold = 38.0
	}
	sort.Slice(c.Rounds, func(i, j int) bool { return c.Rounds[i] < c.Rounds[j] })
	return c
}

// midnight is the start of t's local day in loc (midnight can be skipped by DST; time.Date normalises).
func midnight(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
}

// at is the instant of offset d on the local day starting at day (wall clock, so DST days keep 08:00 at 08:00).
func at(day time.Time, d time.Duration) time.Time {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	return time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, day.Location())
}

// RoundsOn returns the round instants of the local day that contains t.
func (c SiteConfig) RoundsOn(t time.Time) []time.Time {
	c = c.withDefaults()
	day := midnight(t, c.Location)
	out := make([]time.Time, len(c.Rounds))
	for i, d := range c.Rounds {
		out[i] = at(day, d)
	}
	return out
}

// LastClosed returns the latest round that closed (round + Window) at or before now, looking back two days.
func (c SiteConfig) LastClosed(now time.Time) (time.Time, bool) {
	c = c.withDefaults()
	for back := 0; back <= 2; back++ {
		rounds := c.RoundsOn(now.AddDate(0, 0, -back))
		for i := len(rounds) - 1; i >= 0; i-- {
			if !rounds[i].Add(c.Window).After(now) {
				return rounds[i], true
			}
		}
	}
	return time.Time{}, false
}

// Night reports whether t falls in the site's night hours.
func (c SiteConfig) Night(t time.Time) bool {
	c = c.withDefaults()
	l := t.In(c.Location)
	d := time.Duration(l.Hour())*time.Hour + time.Duration(l.Minute())*time.Minute + time.Duration(l.Second())*time.Second
	if c.NightFrom <= c.NightTo {
		return d >= c.NightFrom && d < c.NightTo
	}
	return d >= c.NightFrom || d < c.NightTo
}

// Reading is one temperature for a round: from a wearable or entered by a nurse.
type Reading struct {
	Time   time.Time `json:"time"`
	Value  float64   `json:"value"`
	Manual bool      `json:"manual"`
	// By is the nurse who entered a manual reading; Device the wearable of the others.
	By     string `json:"by,omitempty"`
	Device string `json:"device,omitempty"`
	// Round is the round a manual reading was entered for (a late entry); zero for the others.
	Round time.Time `json:"-"`
}

// Round states of one occupant.
const (
	RoundDone    = "done"
	RoundMissing = "missing"
	RoundPending = "pending"
)

// RoundResult is one occupant's state in one round.
type RoundResult struct {
	State   string   `json:"state"`
	Reading *Reading `json:"reading,omitempty"`
	Febrile bool     `json:"febrile"`
}

// DecideRound picks the occupant's reading for the round at round: a manual reading entered for this round, or
// else the reading nearest the round within window. Without one the occupant is pending until the round closes
// (round + window) and missing after.
func DecideRound(round time.Time, window time.Duration, now time.Time, readings []Reading, fever float64) RoundResult {
	var best *Reading
	bestDist := time.Duration(math.MaxInt64)
	for i := range readings {
		r := &readings[i]
		if math.IsNaN(r.Value) {
			continue
		}
		if r.Manual && r.Round.Equal(round) {
			best = r
			break
		}
		d := r.Time.Sub(round).Abs()
		if d <= window && d < bestDist && (!r.Manual || r.Round.IsZero()) {
			best, bestDist = r, d
		}
	}
	switch {
	case best != nil:
		return RoundResult{State: RoundDone, Reading: best, Febrile: best.Value >= fever}
	case now.Before(round.Add(window)):
		return RoundResult{State: RoundPending}
	}
	return RoundResult{State: RoundMissing}
}
