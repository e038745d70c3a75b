package notify

import (
	"fmt"
	"time"

	"citywatch/internal/i18n"
)

// compileLanguage validates the receiver's language and time zone.
func (cr *compiledReceiver) compileLanguage(p string) []error {
	var errs []error
	if _, err := i18n.ParseLang(cr.Language); err != nil {
		errs = append(errs, fmt.Errorf("%s.language: %w", p, err))
	}
	if _, err := time.LoadLocation(cr.TimeZone); err != nil || cr.TimeZone == "Local" {
		errs = append(errs, fmt.Errorf("%s.time_zone: must be an IANA time zone such as \"Asia/Ho_Chi_Minh\", got %q", p, truncate(cr.TimeZone, 64)))
	}
	return errs
}

// localize makes p speak the receiver's language: the summary of that language when the alert's rule gives
// one (summary_vi), else the rule's own, else a generated summary in that language. The chat formats' labels,
// description and dates follow p.Language and p.TimeZone.
func localize(cr *compiledReceiver, p Payload) Payload {
	p.TimeZone, p.Language = cr.TimeZone, cr.Language
	if payloadLang(p) == i18n.En {
		p.Language = "" // English is the default the payload does not state
		return p
	}
	if s := p.Annotations["summary_"+p.Language]; s != "" {
		p.Summary = s
	} else if p.Annotations["summary"] == "" {
		p.Summary = defaultSummary(p)
	}
	return p
}

// lang is the payload's language, English unless localize set another.
func payloadLang(p Payload) i18n.Lang {
	l, err := i18n.ParseLang(p.Language)
	if err != nil {
		return i18n.En
	}
	return l
}

// text is the catalog text of key in p's language.
func payloadText(p Payload, key string, vars ...string) string {
	return i18n.Default().T(payloadLang(p), key, vars...)
}

// stateText names the alert state in p's language ("firing", "đang kích hoạt").
func payloadStateText(p Payload) string {
	if !i18n.Default().Has(i18n.En, "state."+p.State) {
		return p.State
	}
	return payloadText(p, "state."+p.State)
}

// description is the description annotation in p's language (description_vi), else the rule's own.
func payloadDescription(p Payload) string {
	if l := payloadLang(p); l != i18n.En {
		if d := p.Annotations["description_"+string(l)]; d != "" {
			return d
		}
	}
	return p.Annotations["description"]
}

// since is when the alert started: RFC 3339 in UTC for English receivers without a time zone (as before),
// else the language's date order in the receiver's zone, the zone named.
func payloadSince(p Payload) string {
	if payloadLang(p) == i18n.En && p.TimeZone == "" {
		return p.StartsAt.UTC().Format(time.RFC3339)
	}
	loc, err := time.LoadLocation(p.TimeZone) // validated at load; "" is UTC
	if err != nil {
		loc = time.UTC
	}
	return i18n.FormatDateTime(payloadLang(p), p.StartsAt, loc)
}

func payloadNumber(p Payload, v float64) string { return i18n.FormatNumber(payloadLang(p), v) }

func payloadDuration(p Payload, d time.Duration) string {
	return i18n.Default().FormatDuration(payloadLang(p), d)
}
