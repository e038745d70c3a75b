package config

import (
	"slices"
	"time"
)

// NotifyLanguages are the values of notify.receivers[].language, the languages of citywatch's texts
// (i18n.Langs, kept equal by a test there: config is a leaf and does not import the catalog).
var NotifyLanguages = []string{"en", "vi"}

// receiverLanguage validates the language and time zone of a receiver's notification texts.
func (v validator) receiverLanguage(p string, r *ReceiverConfig) {
	if r.Language != "" && !slices.Contains(NotifyLanguages, r.Language) {
		v.add(p+".language", "must be en or vi; got %s", quote(r.Language))
	}
	if r.TimeZone == "" {
		return
	}
	if _, err := time.LoadLocation(r.TimeZone); err != nil || r.TimeZone == "Local" {
		v.add(p+".time_zone", "must be an IANA time zone such as \"Asia/Ho_Chi_Minh\"; got %s", quote(r.TimeZone))
	}
}
