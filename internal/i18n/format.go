package i18n

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // receivers' time_zone works the same on hosts without a zoneinfo database
)

// FormatDateTime renders t to the minute in loc, in the order of the language, with the zone named:
// "07/12/2026 17:20 (Asia/Ho_Chi_Minh, UTC+07:00)" in Vietnamese, "2026-12-07 17:20 (UTC)" in English.
// A nil loc is UTC.
func FormatDateTime(l Lang, t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	layout := "2006-01-02 15:04"
	if l == Vi {
		layout = "02/01/2006 15:04"
	}
	return t.Format(layout) + " (" + ZoneName(t) + ")"
}

// ZoneName names t's zone with its offset, "Asia/Ho_Chi_Minh, UTC+07:00", or just "UTC".
func ZoneName(t time.Time) string {
	_, off := t.Zone()
	name := t.Location().String()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	utc := fmt.Sprintf("UTC%s%02d:%02d", sign, off/3600, off%3600/60)
	if name == "" || name == "UTC" || name == "Local" {
		if off == 0 {
			return "UTC"
		}
		return utc
	}
	return name + ", " + utc
}

// FormatDuration renders d to the second: Go's "42m30s" in English, "42 phút 30 giây" in Vietnamese (the
// units are the catalog's notify.duration.* texts).
func (c *Catalog) FormatDuration(l Lang, d time.Duration) string {
	d = d.Round(time.Second)
	if l == En || d <= 0 {
		return d.String()
	}
	s := int64(d / time.Second)
	units := []struct {
		key  string
		size int64
	}{{"notify.duration.days", 86400}, {"notify.duration.hours", 3600}, {"notify.duration.minutes", 60}, {"notify.duration.seconds", 1}}
	var parts []string
	for _, u := range units {
		if n := s / u.size; n > 0 {
			parts = append(parts, c.T(l, u.key, "n", strconv.FormatInt(n, 10)))
			s -= n * u.size
		}
	}
	return strings.Join(parts, " ")
}

// FormatNumber renders v with up to 6 significant digits and the language's decimal mark: "38.9" in
// English, "38,9" in Vietnamese.
func FormatNumber(l Lang, v float64) string {
	s := strconv.FormatFloat(v, 'g', 6, 64)
	if l == Vi {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}
