package broker

import (
	"errors"
	"fmt"
	"strings"
)

// Match reports whether the MQTT topic name matches the topic filter, following MQTT 3.1.1/5 section 4.7:
// "+" matches exactly one level (which may be empty), a trailing "#" matches the parent level and any number of
// child levels, and a filter starting with a wildcard never matches a topic starting with "$". Match does not
// allocate; it treats an invalid filter (such as "a#") literally.
func Match(filter, topic string) bool {
	if filter == "" || topic == "" {
		return false
	}
	if topic[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	for {
		fl, frest, fmore := cutLevel(filter)
		if fl == "#" && !fmore {
			return true
		}
		tl, trest, tmore := cutLevel(topic)
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// The topic ended; only a remaining "#" (matching the parent level) still matches.
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// Covers reports whether every topic that the requested subscription filter can match is also matched by the
// allowed filter, so that granting the subscription grants nothing beyond allowed. A shared-subscription
// prefix ("$share/<group>/") on requested is ignored. For a topic name without wildcards Covers equals Match.
func Covers(allowed, requested string) bool {
	requested = stripShare(requested)
	if allowed == "" || requested == "" {
		return false
	}
	if requested[0] == '$' && (allowed[0] == '+' || allowed[0] == '#') {
		return false
	}
	for {
		al, arest, amore := cutLevel(allowed)
		if al == "#" && !amore {
			return true
		}
		rl, rrest, rmore := cutLevel(requested)
		switch {
		case rl == "#":
			return false // only an allowed "#" (handled above) covers a requested "#"
		case al == "+":
			// "+" covers any single requested level, literal or "+".
		case al != rl:
			return false
		}
		switch {
		case !amore && !rmore:
			return true
		case !rmore:
			return arest == "#"
		case !amore:
			return false
		}
		allowed, requested = arest, rrest
	}
}

// cutLevel splits s at its first "/" into the first level and the rest; more reports whether a "/" was found.
func cutLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// stripShare removes a "$share/<group>/" prefix (case-insensitive, as mochi accepts it) from a filter.
func stripShare(filter string) string {
	const prefix = "$share/"
	if len(filter) < len(prefix) || !strings.EqualFold(filter[:len(prefix)], prefix) {
		return filter
	}
	_, rest, ok := cutLevel(filter[len(prefix):])
	if !ok {
		return filter
	}
	return rest
}

// errEmptyFilter is returned by ValidateFilter for an empty filter.
var errEmptyFilter = errors.New("empty topic filter")

// ValidateFilter returns an error describing why filter is not a valid MQTT topic filter: it is empty, holds a
// NUL, is longer than 65535 bytes, or uses "+" or "#" other than as a whole level ("#" only as the last).
func ValidateFilter(filter string) error {
	if filter == "" {
		return errEmptyFilter
	}
	if len(filter) > 65535 {
		return fmt.Errorf("topic filter longer than 65535 bytes (%d)", len(filter))
	}
	if strings.IndexByte(filter, 0) >= 0 {
		return errors.New("topic filter contains NUL")
	}
	for rest, more := filter, true; more; {
		var level string
		level, rest, more = cutLevel(rest)
		switch {
		case level == "#" && more:
			return fmt.Errorf("topic filter %q: \"#\" must be the last level", filter)
		case level != "#" && level != "+" && strings.ContainsAny(level, "+#"):
			return fmt.Errorf("topic filter %q: wildcards must occupy a whole level", filter)
		}
	}
	return nil
}
