package ward

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"citywatch/config"
)

// SiteSettings are the settings of a site's ward that its health staff and admins set over the API (PUT
// /api/ward/{site}/settings), kept in the metadata database (table ward_site_settings) so they outlive a
// restart. A field left empty keeps the configuration's value (ward.sites[] and privacy.sites), or its default:
// the configuration is the default, the API's setting wins.
type SiteSettings struct {
	// TimeZone is the IANA zone of the rounds and night hours, e.g. "Asia/Ho_Chi_Minh".
	TimeZone string `json:"time_zone,omitempty"`
	// Rounds are the round times, local "HH:MM", at most 24.
	Rounds []string `json:"rounds,omitempty"`
	// Night is the night hours, local "HH:MM-HH:MM" (it may wrap midnight).
	Night string `json:"night,omitempty"`
	// RetentionDays is how many days an occupant's personal data are kept after their stay ended, 1 to 3650.
	RetentionDays int `json:"retention_days,omitempty"`
}

// maxRounds bounds a site's round schedule (one an hour is already more than a ward does).
const maxRounds = 24

// settingsSchema is the table of the sites' API settings; NULL (stored as ” or 0) keeps the configuration's.
const settingsSchema = `
CREATE TABLE IF NOT EXISTS ward_site_settings (
	site           TEXT PRIMARY KEY,
	time_zone      TEXT NOT NULL,
	rounds         TEXT NOT NULL,
	night          TEXT NOT NULL,
	retention_days INTEGER NOT NULL,
	updated_by     TEXT NOT NULL,
	updated_ms     INTEGER NOT NULL
);`

// storedSettings are a site's settings with who set them and when.
type storedSettings struct {
	SiteSettings
	UpdatedBy string
	UpdatedAt time.Time
}

// apply returns base with the settings that are set; an error (ErrInvalid) names the first bad field. It is
// the settings' validation too.
func (s SiteSettings) apply(base SiteConfig) (SiteConfig, error) {
	out := base
	if s.TimeZone != "" {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil || s.TimeZone == "Local" {
			return base, invalid("time_zone: want an IANA time zone such as \"Asia/Ho_Chi_Minh\"; got %q", s.TimeZone)
		}
		out.Location = loc
	}
	if len(s.Rounds) > maxRounds {
		return base, invalid("rounds: at most %d; got %d", maxRounds, len(s.Rounds))
	}
	if len(s.Rounds) > 0 {
		out.Rounds = make([]time.Duration, 0, len(s.Rounds))
		for _, r := range s.Rounds {
			d, err := config.ParseClock(r)
			if err != nil {
				return base, invalid("rounds: %v", err)
			}
			if slices.Contains(out.Rounds, d) {
				return base, invalid("rounds: %s twice", r)
			}
			out.Rounds = append(out.Rounds, d)
		}
		slices.Sort(out.Rounds)
	}
	if s.Night != "" {
		from, to, err := config.ParseNight(s.Night)
		if err != nil {
			return base, invalid("night: %v", err)
		}
		out.NightFrom, out.NightTo = from, to
	}
	if s.RetentionDays < 0 || s.RetentionDays > 3650 {
		return base, invalid("retention_days: want 1 to 3650, or 0 for the configuration's; got %d", s.RetentionDays)
	}
	return out, nil
}

// siteSettings loads every site's API settings.
func (s *Store) siteSettings(ctx context.Context) (map[string]storedSettings, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT site, time_zone, rounds, night, retention_days, updated_by, updated_ms
		FROM ward_site_settings`)
	if err != nil {
		return nil, wrap("site settings", err)
	}
	defer rows.Close()
	out := map[string]storedSettings{}
	for rows.Next() {
		var site, rounds string
		var st storedSettings
		var at int64
		if err := rows.Scan(&site, &st.TimeZone, &rounds, &st.Night, &st.RetentionDays, &st.UpdatedBy, &at); err != nil {
			return nil, wrap("site settings", err)
		}
		if rounds != "" {
			st.Rounds = strings.Split(rounds, ",")
		}
		st.UpdatedAt = fromMS(at)
		out[site] = st
	}
	return out, wrap("site settings", rows.Err())
}

// putSiteSettings stores a site's API settings (validated by the caller), replacing its earlier ones.
func (s *Store) putSiteSettings(ctx context.Context, site string, st storedSettings) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO ward_site_settings
		(site, time_zone, rounds, night, retention_days, updated_by, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(site) DO UPDATE SET time_zone = excluded.time_zone, rounds = excluded.rounds,
		night = excluded.night, retention_days = excluded.retention_days, updated_by = excluded.updated_by,
		updated_ms = excluded.updated_ms`,
		site, st.TimeZone, strings.Join(st.Rounds, ","), st.Night, st.RetentionDays, st.UpdatedBy, ms(st.UpdatedAt))
	return wrap("put site settings", err)
}

// loadSettings reads the sites' API settings into w at start. A stored setting the current build no longer
// accepts (say a time zone gone from the zone database) is logged and ignored: the configuration's applies.
func (w *Ward) loadSettings(ctx context.Context) error {
	all, err := w.st.siteSettings(ctx)
	if err != nil {
		return err
	}
	for site, st := range all {
		if _, err := st.apply(w.configSite(site)); err != nil {
			w.log.Warn("stored ward site settings ignored", "site", site, "err", err)
			delete(all, site)
		}
	}
	w.mu.Lock()
	w.settings = all
	w.mu.Unlock()
	return nil
}

// configSite is the configuration's settings of site (or the defaults).
func (w *Ward) configSite(site string) SiteConfig {
	if c, ok := w.sites[site]; ok {
		return c
	}
	return DefaultSiteConfig(site)
}

// SetSiteSettings validates and stores a site's API settings, set by by, and applies them at once: rounds,
// signals and the report use them from the next evaluation, retention by purpose from its next sweep.
func (w *Ward) SetSiteSettings(ctx context.Context, site string, s SiteSettings, by string) error {
	if _, err := s.apply(w.configSite(site)); err != nil {
		return err
	}
	st := storedSettings{SiteSettings: s, UpdatedBy: by, UpdatedAt: w.clk.Now()}
	if err := w.st.putSiteSettings(ctx, site, st); err != nil {
		return err
	}
	w.mu.Lock()
	w.settings[site] = st
	w.mu.Unlock()
	return nil
}

// RetentionPeriods returns the retention period of every site whose settings set one over the API
// (retention.Periods): they take precedence over privacy.sites and privacy.retention_after_release.
func (w *Ward) RetentionPeriods() map[string]time.Duration {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := map[string]time.Duration{}
	for site, st := range w.settings {
		if st.RetentionDays > 0 {
			out[site] = time.Duration(st.RetentionDays) * 24 * time.Hour
		}
	}
	return out
}

// retentionAfterRelease is the retention period that applies to site.
func (w *Ward) retentionAfterRelease(site string) time.Duration {
	if d, ok := w.RetentionPeriods()[site]; ok {
		return d
	}
	if d, ok := w.cfg.SiteRetention[site]; ok && d > 0 {
		return d
	}
	return w.cfg.RetentionAfterRelease
}

// SettingsView is a site's settings as GET /api/ward/{site}/settings shows them: what applies, and what the
// API set over the configuration.
type SettingsView struct {
	Site          string       `json:"site"`
	TimeZone      string       `json:"time_zone"`
	Rounds        []string     `json:"rounds"`
	Night         string       `json:"night"`
	RetentionDays int          `json:"retention_days"`
	Overrides     SiteSettings `json:"overrides"`
	UpdatedBy     string       `json:"updated_by,omitempty"`
	UpdatedAt     time.Time    `json:"updated_at,omitzero"`

	// Configured says the configuration (ward.sites[]) lists the site; false: the defaults are under the overrides.
	Configured bool `json:"configured"`
}

// SettingsOf returns the settings that apply to site.
func (w *Ward) SettingsOf(site string) SettingsView {
	sc := w.Site(site)
	w.mu.RLock()
	st := w.settings[site]
	w.mu.RUnlock()
	v := SettingsView{Site: site, TimeZone: sc.Location.String(), Rounds: clockLabels(sc.Rounds),
		Night:         clockLabel(sc.NightFrom) + "-" + clockLabel(sc.NightTo),
		RetentionDays: int(math.Ceil(w.retentionAfterRelease(site).Hours() / 24)),
		Overrides:     st.SiteSettings, UpdatedBy: st.UpdatedBy, UpdatedAt: st.UpdatedAt}
	_, v.Configured = w.sites[site]
	return v
}

func clockLabel(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

func clockLabels(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = clockLabel(d)
	}
	return out
}

// settingsGet shows the settings that apply to the site and which of them the API set.
func (w *Ward) settingsGet(rw http.ResponseWriter, r *http.Request, site string) {
	writeJSON(rw, http.StatusOK, w.SettingsOf(site))
}

// settingsPut replaces the site's API settings (fields left out go back to the configuration's); audited.
func (w *Ward) settingsPut(rw http.ResponseWriter, r *http.Request, site string) {
	var in SiteSettings
	if err := decode(r, &in); err != nil {
		w.fail(rw, err)
		return
	}
	by, _ := actor(r)
	if err := w.SetSiteSettings(r.Context(), site, in, by); err != nil {
		w.record(r, AuditSettings, site, site, err.Error(), false)
		w.fail(rw, err)
		return
	}
	w.record(r, AuditSettings, site, site, fmt.Sprintf("time_zone %q rounds %v night %q retention_days %d",
		in.TimeZone, in.Rounds, in.Night, in.RetentionDays), true)
	writeJSON(rw, http.StatusOK, w.SettingsOf(site))
}
