package config

import (
	"errors"
	"fmt"
	"strings"
)

// errBadReference is returned for a malformed ${...}. It names nothing from the value, which may be a secret.
var errBadReference = errors.New(`invalid "${" reference: use ${NAME} with NAME of letters, digits and _, or "$$" for a literal "$"`)

// expandEnv replaces ${NAME} with the value of the environment variable NAME and "$$" with "$"; any other "$"
// is kept, so bcrypt hashes ("$2a$10$...") need no escaping. It reports whether a variable was substituted, and
// one error per undefined variable (naming the variable, never a value).
func expandEnv(s string, lookup func(string) (string, bool)) (out string, substituted bool, errs []error) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return s, false, append(errs, errBadReference)
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				return s, false, append(errs, errBadReference)
			}
			v, ok := lookup(name)
			if !ok {
				errs = append(errs, fmt.Errorf("environment variable %q is not set", name))
			}
			b.WriteString(v)
			substituted = true
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), substituted, errs
}

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
