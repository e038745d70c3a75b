package config

import (
	"time"

	"citywatch/internal/i18n"
)

// receiverLanguage validates the language and time zone of a receiver's notification texts.
func (v validator) receiverLanguage(p string, r *ReceiverConfig) {
	if _, err := i18n.ParseLang(r.Language); err != nil {
		v.add(p+".language", "must be en or vi; got %s", quote(r.Language))
	}
	if r.TimeZone == "" {
		return
	}
	if _, err := time.LoadLocation(r.TimeZone); err != nil || r.TimeZone == "Local" {
		v.add(p+".time_zone", "must be an IANA time zone such as \"Asia/Ho_Chi_Minh\"; got %s", quote(r.TimeZone))
	}
}
