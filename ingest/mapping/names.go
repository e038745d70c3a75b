package mapping

import (
	"strings"
	"unicode/utf8"
)

// MaxLabels is the most labels a sample may have (topic, static and tag labels together); a message whose
// tags would exceed it is rejected (bad_name), which bounds what one hostile line can do to the index.
const MaxLabels = 64

// MaxNameLen is the longest metric or label name accepted, in bytes; longer names are rejected (bad_name).
const MaxNameLen = 200

// MaxTopicBytes is the longest topic mapped, in bytes; longer topics are rejected (too_large). Topic levels
// become label values, and MQTT allows 65535-byte topics.
const MaxTopicBytes = 1024

// MaxLabelValueBytes is the longest tag value accepted as a label value, in bytes; longer ones are rejected
// (too_large).
const MaxLabelValueBytes = 1024

// hasAlnum reports whether s has an ASCII letter or digit: a name made only of "_" and ":" (what sanitizing
// leaves of "-", "°" or "ü") names nothing.
func hasAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			return true
		}
	}
	return false
}

// SanitizeMetricName makes s a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*): every invalid byte,
// or invalid UTF-8 sequence or non-ASCII character, becomes one "_", and a leading digit gets a "_" in front
// ("2.5um" → "_2_5um"). It returns s itself when s is already valid and "" when s is empty.
func SanitizeMetricName(s string) string {
	return sanitize(s, true, false)
}

// SanitizeLabelName makes s a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*) the same way.
func SanitizeLabelName(s string) string {
	return sanitize(s, false, false)
}

func validByte(c byte, colon bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (colon && c == ':')
}

// sanitize replaces invalid characters; allowDigit keeps a leading digit (for names that get a prefix).
func sanitize(s string, colon, allowDigit bool) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !validByte(s[i], colon) {
			ok = false
			break
		}
	}
	leadingDigit := len(s) > 0 && s[0] >= '0' && s[0] <= '9' && !allowDigit
	if ok && !leadingDigit {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	if leadingDigit {
		b.WriteByte('_')
	}
	for i := 0; i < len(s); {
		c := s[i]
		if validByte(c, colon) {
			b.WriteByte(c)
			i++
			continue
		}
		b.WriteByte('_')
		if c < utf8.RuneSelf {
			i++
			continue
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	return b.String()
}

// validMetricName reports whether s is a non-empty valid metric name.
func validMetricName(s string) bool {
	return s != "" && len(s) <= MaxNameLen && sanitize(s, true, false) == s
}

// validLabelName reports whether s is a usable label name: valid, and not reserved ("__" prefix).
func validLabelName(s string) bool {
	return s != "" && len(s) <= MaxNameLen && sanitize(s, false, false) == s && !strings.HasPrefix(s, "__")
}

// labelValue returns v with invalid UTF-8 replaced, so every label value is valid UTF-8.
func labelValue(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}
