// Package pseudonym replaces the names of a person (an occupant's case id, name or contact) in stored text
// with a pseudonym, for retention by purpose (package retention): the alert history and the notification
// outbox keep their records, the person leaves them.
package pseudonym

import "strings"

// MinInText is the shortest subject replaced inside longer text; shorter ones are replaced only where they
// are a whole value (a label value equal to the case id), so a two-letter contact cannot rewrite every word.
const MinInText = 4

// Replace returns s with every whole-word occurrence of each subject replaced by pseudonym, and whether it
// changed. A whole word is not preceded or followed by a letter, digit, '_' or '-': case id Q-12 is not
// replaced inside Q-123 (another occupant's). A value equal to a subject is replaced whatever its length.
func Replace(s string, subjects []string, pseudonym string) (string, bool) {
	changed := false
	for _, sub := range subjects {
		if sub == "" {
			continue
		}
		if s == sub {
			return pseudonym, true
		}
		if len(sub) < MinInText || !strings.Contains(s, sub) {
			continue
		}
		var b strings.Builder
		rest := s
		for {
			i := strings.Index(rest, sub)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			end := i + len(sub)
			before, after := prev(rest, i, b.String()), next(rest, end)
			b.WriteString(rest[:i])
			if wordByte(before) || wordByte(after) {
				b.WriteString(sub)
			} else {
				b.WriteString(pseudonym)
				changed = true
			}
			rest = rest[end:]
		}
		s = b.String()
	}
	return s, changed
}

// Map applies Replace to every value of m in place and reports whether any changed.
func Map(m map[string]string, subjects []string, pseudonym string) bool {
	changed := false
	for k, v := range m {
		if nv, ok := Replace(v, subjects, pseudonym); ok {
			m[k], changed = nv, true
		}
	}
	return changed
}

// prev is the byte before index i of rest, where done is what came before rest (0 at the start of text).
func prev(rest string, i int, done string) byte {
	if i > 0 {
		return rest[i-1]
	}
	if done != "" {
		return done[len(done)-1]
	}
	return 0
}

func next(rest string, end int) byte {
	if end < len(rest) {
		return rest[end]
	}
	return 0
}

func wordByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
