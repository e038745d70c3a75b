package decode

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a minimal JSON reader over a byte slice: it validates what it reads (RFC 8259 grammar, string
// escapes, control characters) and never allocates on success.
type scanner struct {
	data []byte
	pos  int
}

var errEOF = errors.New("unexpected end of input")

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) ws() {
	for s.pos < len(s.data) && isSpace(s.data[s.pos]) {
		s.pos++
	}
}

// peek returns the next non-blank byte without consuming it, or 0 at the end (a NUL byte also reads as 0,
// which every caller treats as an error, never as a clean end).
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// expect consumes c (after blanks) or fails.
func (s *scanner) expect(c byte) error {
	s.ws()
	if s.pos >= len(s.data) {
		return s.errorf("expected %q, got %v", c, errEOF)
	}
	if s.data[s.pos] != c {
		return s.errorf("expected %q, got %q", c, s.data[s.pos])
	}
	s.pos++
	return nil
}

// open consumes the '{' or '[' at the current position and reports whether the container is empty (its
// closing bracket, then consumed too, comes next).
func (s *scanner) open(closing byte) (empty bool) {
	s.pos++
	if s.peek() == closing {
		s.pos++
		return true
	}
	return false
}

// comma consumes the comma after a member of an object or an element of an array and reports whether there
// was one. It inlines, so the loop over members costs no call per member.
func (s *scanner) comma() bool {
	if s.peek() == ',' {
		s.pos++
		return true
	}
	return false
}

// end consumes the closing ('}' or ']') after the last member or element, or fails: the input ended inside the
// container, or something else stands where a comma or the closing should.
func (s *scanner) end(closing byte) error {
	switch s.peek() {
	case closing:
		s.pos++
		return nil
	case 0:
		what := "object"
		if closing == ']' {
			what = "array"
		}
		return s.errorf("unterminated %s: %v", what, errEOF)
	}
	return s.errorf("expected ',' or %q, got %q", closing, s.data[s.pos])
}

// endString consumes the closing quote of the string whose content starts at start; high is the OR of its
// raw bytes, so pure ASCII skips the UTF-8 check (and the call stays inlined).
func (s *scanner) endString(start int, high byte) error {
	s.pos++
	if high >= utf8.RuneSelf {
		return s.checkUTF8(start)
	}
	return nil
}

// checkUTF8 reports invalid UTF-8 in the string from start to the closing quote just consumed.
func (s *scanner) checkUTF8(start int) error {
	if !utf8.Valid(s.data[start : s.pos-1]) {
		return s.badUTF8(start)
	}
	return nil
}

// str reads a string at the current position (which must be '"'). The content is returned as a slice of the
// input when it has no escapes, else unescaped into dst's spare capacity; escaped reports which.
// Strings must be valid UTF-8 (RFC 8259 section 8.1): invalid bytes are an error, never replaced, so a field
// name made of garbage cannot turn into a metric name.
func (s *scanner) str(dst []byte) (content []byte, escaped bool, err error) {
	s.pos++ // opening quote
	start := s.pos
	var high byte
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			if err := s.endString(start, high); err != nil {
				return nil, false, err
			}
			return s.data[start : s.pos-1], false, nil
		case c == '\\':
			s.pos = start
			return s.unescape(dst)
		case c < 0x20:
			return nil, false, s.errorf("control character %#x in string", c)
		}
		high |= c
		s.pos++
	}
	return nil, false, s.errorf("unterminated string: %v", errEOF)
}

// badUTF8 reports invalid UTF-8 in the string that starts at start.
func (s *scanner) badUTF8(start int) error {
	return fmt.Errorf("offset %d: string is not valid UTF-8", start)
}

func (s *scanner) unescape(dst []byte) ([]byte, bool, error) {
	out := dst[len(dst):]
	start := s.pos
	var high byte
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		high |= c
		switch {
		case c == '"':
			// Escapes only ever produce valid UTF-8, so checking the raw bytes once is enough.
			if err := s.endString(start, high); err != nil {
				return nil, false, err
			}
			return out, true, nil
		case c < 0x20:
			return nil, false, s.errorf("control character %#x in string", c)
		case c != '\\':
			out = append(out, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.data) {
			break
		}
		e := s.data[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, false, s.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
					save := s.pos
					s.pos += 2
					if lo, ok := s.hex4(); ok && utf16.DecodeRune(r, lo) != utf8.RuneError {
						r2 = utf16.DecodeRune(r, lo)
					} else {
						s.pos = save
					}
				}
				r = r2
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false, s.errorf("bad escape \\%c", e)
		}
	}
	return nil, false, s.errorf("unterminated string: %v", errEOF)
}

func (s *scanner) hex4() (rune, bool) {
	if s.pos+4 > len(s.data) {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.pos += 4
	return r, true
}

// skipString validates and skips a string.
func (s *scanner) skipString() error {
	s.pos++
	start := s.pos
	var high byte
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		high |= c
		switch {
		case c == '"':
			return s.endString(start, high)
		case c < 0x20:
			return s.errorf("control character %#x in string", c)
		case c == '\\':
			if s.pos+1 >= len(s.data) {
				return s.errorf("unterminated string: %v", errEOF)
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				s.pos += 2
				if _, ok := s.hex4(); !ok {
					return s.errorf("bad \\u escape")
				}
			default:
				return s.errorf("bad escape \\%c", s.data[s.pos+1])
			}
			continue
		}
		s.pos++
	}
	return s.errorf("unterminated string: %v", errEOF)
}

// number reads a JSON number. Numbers too large for a float64 are an error, not ±Inf.
func (s *scanner) number() (float64, error) {
	start := s.pos
	end, v, exact, ok := scanNumber(s.data, s.pos)
	if !ok {
		return 0, s.errorf("malformed number")
	}
	s.pos = end
	if exact {
		return v, nil
	}
	return parseFloat(s.data[start:end], start)
}

// pow10 holds the powers of ten that a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// scanNumber checks the RFC 8259 number grammar from i and returns where the number ends. When the mantissa
// fits 53 bits and the decimal exponent is within ±22 it also returns the value, exact == true: one
// multiplication or division of exact operands is correctly rounded (Clinger's fast path), the case of
// nearly every sensor reading. Otherwise the caller falls back to strconv.
func scanNumber(b []byte, i int) (end int, v float64, exact, ok bool) {
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits, exp := 0, 0
	truncated := false
	addDigit := func(c byte) {
		if digits < 19 {
			mant = mant*10 + uint64(c-'0')
			digits++
		} else {
			truncated = true
		}
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits >= 19 {
				exp++ // integer digits beyond the mantissa still scale it
			}
			addDigit(b[i])
			i++
		}
	default:
		return i, 0, false, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 19 {
				exp--
			}
			addDigit(b[i])
			i++
		}
		if i == d {
			return i, 0, false, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		d := i
		e := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
			i++
		}
		if i == d {
			return i, 0, false, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i < len(b) {
		// A number must be followed by a delimiter, not glued to letters ("1x", "01").
		switch c := b[i]; {
		case c == ',' || c == '}' || c == ']' || isSpace(c):
		default:
			return i, 0, false, false
		}
	}
	if truncated || mant >= 1<<53 || exp < -22 || exp > 22 {
		return i, 0, false, true
	}
	v = float64(mant)
	if exp < 0 {
		v /= pow10[-exp]
	} else {
		v *= pow10[exp]
	}
	if neg {
		v = -v
	}
	return i, v, true, true
}

// parseFloat parses an already validated number; overflow to ±Inf is an error.
func parseFloat(b []byte, offset int) (float64, error) {
	f, err := strconv.ParseFloat(alias(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("offset %d: number %.40q out of range", offset, b)
	}
	return f, nil
}

// literal consumes true, false or null and returns which (1, 0, -1).
func (s *scanner) literal() (int, error) {
	rest := s.data[s.pos:]
	var v, n int
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		v, n = 1, 4
	case len(rest) >= 5 && string(rest[:5]) == "false":
		v, n = 0, 5
	case len(rest) >= 4 && string(rest[:4]) == "null":
		v, n = -1, 4
	default:
		return 0, s.errorf("invalid literal")
	}
	if len(rest) > n {
		switch c := rest[n]; {
		case c == ',' || c == '}' || c == ']' || isSpace(c):
		default:
			return 0, s.errorf("invalid literal")
		}
	}
	s.pos += n
	return v, nil
}

// skipValue validates and skips any value; depth is the nesting depth of the value's container.
func (s *scanner) skipValue(depth int) error {
	switch c := s.peek(); c {
	case 0:
		return s.errorf("expected value, got %v", errEOF)
	case '"':
		return s.skipString()
	case '{', '[':
		if depth+1 > MaxDepth {
			return s.errorf("nesting deeper than %d", MaxDepth)
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		if s.open(closing) {
			return nil
		}
		for {
			if c == '{' {
				if s.peek() != '"' {
					return s.errorf("expected object key")
				}
				if err := s.skipString(); err != nil {
					return err
				}
				if err := s.expect(':'); err != nil {
					return err
				}
			}
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			if !s.comma() {
				return s.end(closing)
			}
		}
	case 't', 'f', 'n':
		_, err := s.literal()
		return err
	default:
		_, err := s.number()
		return err
	}
}
