package decode

import (
	"errors"
	"fmt"
	"time"
)

// Number decodes a plain number: optional blanks, an optional sign, decimal digits with an optional fraction
// and exponent ("21.5", " -3\n", "1e3", ".5"), optional blanks. "true" and "false" are 1 and 0, so switch-like
// sensors can publish them. NaN, Inf, hexadecimal, digit separators and numbers that overflow a float64 are
// rejected. The one field has an empty name: the mapping names it.
func (d *Decoder) Number(payload []byte) ([]Record, error) {
	d.reset()
	payload = trimBOM(payload)
	p := trimSpace(payload)
	var v float64
	switch string(p) {
	case "":
		return nil, errors.New("empty payload")
	case "true":
		v = 1
	case "false":
		v = 0
	default:
		if isNonFinite(p) {
			return nil, fmt.Errorf("%.20q is not a reading: NaN and infinities are rejected", p)
		}
		if !isDecimal(p) {
			return nil, fmt.Errorf("%.40q is not a decimal number", p)
		}
		f, err := parseFloat(p, len(payload)-len(trimLeft(payload)))
		if err != nil {
			return nil, err
		}
		v = f
	}
	d.beginRecord("", time.Time{})
	d.fields = append(d.fields, Field{Value: v})
	d.endRecord()
	return d.finish(), nil
}

func trimLeft(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// isDecimal checks [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?.
func isDecimal(b []byte) bool {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		e := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == e {
			return false
		}
	}
	return i == len(b)
}
