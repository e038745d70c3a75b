package decode

import (
	"fmt"
	"math"
	"time"
)

// JSON decodes a payload holding one JSON object into one record.
//
//   - Every number is a field; true and false are fields with the values 1 and 0.
//   - Nested objects are flattened with "_": {"air":{"pm25":3}} gives the field air_pm25.
//   - Strings, nulls and arrays are ignored (arrays are still checked for syntax): they carry no reading this
//     mapping can name. A payload whose only values are of those kinds decodes to a record without fields.
//   - The top-level keys "ts" and "time" are the timestamp, not fields: a number above 1e11 is Unix
//     milliseconds, a smaller positive number Unix seconds (fractions allowed), a string RFC 3339; null means
//     none. Anything else, a value out of range (before 1970 or after 2262, numbers and strings alike), or
//     both keys at once wraps ErrTimestamp. Nested "ts"/"time" keys are ordinary fields.
//
// Rejected, never guessed: malformed JSON, anything after the object, a top level that is not an object,
// nesting deeper than MaxDepth, a number that overflows a float64 (JSON has no NaN or Inf), a string (key or
// value) that is not valid UTF-8, and a field name that occurs twice after flattening ({"a_b":1,"a":{"b":2}}).
// A leading UTF-8 byte order mark is skipped.
func (d *Decoder) JSON(payload []byte) ([]Record, error) {
	d.reset()
	s := scanner{data: trimBOM(payload)}
	if s.peek() != '{' {
		return nil, s.errorf("expected a JSON object")
	}
	d.beginRecord("", time.Time{})
	st := jsonState{}
	if err := d.jsonObject(&s, 1, 0, &st); err != nil {
		return nil, err
	}
	if s.ws(); s.pos < len(s.data) {
		return nil, s.errorf("unexpected data after the object")
	}
	d.endRecord()
	if name, dup := dupName(d.fields); dup {
		return nil, fmt.Errorf("field %.80q occurs twice", name)
	}
	d.records[0].Time = st.t
	return d.finish(), nil
}

type jsonState struct {
	t     time.Time
	tsKey string
}

// jsonObject decodes the object at s (at its '{'); d.path[:pathLen] is the flattened prefix of its keys.
func (d *Decoder) jsonObject(s *scanner, depth, pathLen int, st *jsonState) error {
	if s.open('}') {
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.errorf("expected object key")
		}
		key, escaped, err := s.str(d.esc[:0])
		if err != nil {
			return err
		}
		if escaped {
			d.esc = key[:0]
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := d.jsonValue(s, depth, pathLen, key, escaped, st); err != nil {
			return err
		}
		if !s.comma() {
			return s.end('}')
		}
	}
}

func (d *Decoder) jsonValue(s *scanner, depth, pathLen int, key []byte, escaped bool, st *jsonState) error {
	c := s.peek()
	isTS := depth == 1 && (string(key) == "ts" || string(key) == "time")
	if isTS {
		return d.jsonTime(s, key, st)
	}
	switch c {
	case '{':
		if depth+1 > MaxDepth {
			return s.errorf("nesting deeper than %d", MaxDepth)
		}
		d.path = append(d.path[:pathLen], key...)
		d.path = append(d.path, '_')
		return d.jsonObject(s, depth+1, len(d.path), st)
	case '[', '"':
		return s.skipValue(depth)
	case 't', 'f', 'n':
		v, err := s.literal()
		if err != nil || v < 0 {
			return err
		}
		d.addJSONField(pathLen, key, escaped, float64(v))
		return d.tooMany()
	case 0:
		return s.errorf("expected value, got %v", errEOF)
	default:
		f, err := s.number()
		if err != nil {
			return err
		}
		d.addJSONField(pathLen, key, escaped, f)
		return d.tooMany()
	}
}

func (d *Decoder) addJSONField(pathLen int, key []byte, escaped bool, v float64) {
	var name string
	switch {
	case pathLen > 0:
		name = d.str(d.path[:pathLen], key)
	case escaped:
		name = d.str(key)
	default:
		name = alias(key)
	}
	d.fields = append(d.fields, Field{Name: name, Value: v})
}

func (d *Decoder) jsonTime(s *scanner, key []byte, st *jsonState) error {
	if st.tsKey != "" {
		if st.tsKey == string(key) {
			return fmt.Errorf("key %q occurs twice", key)
		}
		return fmt.Errorf("%w: both \"ts\" and \"time\" given", ErrTimestamp)
	}
	if string(key) == "ts" {
		st.tsKey = "ts"
	} else {
		st.tsKey = "time"
	}
	switch s.peek() {
	case '"':
		v, _, err := s.str(d.esc[:0])
		if err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, alias(v))
		if err != nil {
			return fmt.Errorf("%w: %s %.60q is not RFC 3339", ErrTimestamp, st.tsKey, v)
		}
		if err := inRange(t); err != nil {
			return fmt.Errorf("%w: %s %.60q: %v", ErrTimestamp, st.tsKey, v, err)
		}
		st.t = t
		return nil
	case 'n':
		v, err := s.literal()
		if err != nil {
			return err
		}
		if v >= 0 {
			return fmt.Errorf("%w: %s must be a number or a string", ErrTimestamp, st.tsKey)
		}
		return nil
	case 't', 'f', '{', '[':
		if err := s.skipValue(1); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s must be a number or a string", ErrTimestamp, st.tsKey)
	case 0:
		return s.errorf("expected value, got %v", errEOF)
	}
	f, err := s.number()
	if err != nil {
		return err
	}
	t, err := unixTime(f)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrTimestamp, st.tsKey, err)
	}
	st.t = t
	return nil
}

// Bounds of numeric timestamps: they must fit int64 nanoseconds (years 1970 to 2262).
const (
	msThreshold = 1e11                // above: milliseconds, else seconds
	maxSeconds  = math.MaxInt64 / 1e9 // ≈ 9.2e9 (2262-04-11)
	maxMillis   = math.MaxInt64 / 1e6 // ≈ 9.2e12
)

// inRange checks that t is after 1970 and before 2262, the range numeric timestamps have, so that a time
// given as text cannot be the zero Time (which means "no time") or overflow int64 nanoseconds downstream.
func inRange(t time.Time) error {
	if !t.After(time.Unix(0, 0)) {
		return fmt.Errorf("%s is not after 1970", t.Format(time.RFC3339))
	}
	if float64(t.Unix()) >= maxSeconds {
		return fmt.Errorf("%s is after 2262", t.Format(time.RFC3339))
	}
	return nil
}

// unixTime interprets a numeric timestamp: Unix milliseconds above 1e11, else Unix seconds.
func unixTime(f float64) (time.Time, error) {
	switch {
	case !(f > 0):
		return time.Time{}, fmt.Errorf("%v is not after 1970", f)
	case f > msThreshold:
		if f >= maxMillis {
			return time.Time{}, fmt.Errorf("%v ms is after 2262", f)
		}
		ms := math.Floor(f)
		return time.UnixMilli(int64(ms)).Add(time.Duration(math.Round((f - ms) * 1e6))), nil
	default:
		return secondsTime(f)
	}
}

// secondsTime converts positive Unix seconds (with fraction) to a time.
func secondsTime(f float64) (time.Time, error) {
	if !(f > 0) {
		return time.Time{}, fmt.Errorf("%v is not after 1970", f)
	}
	if f >= maxSeconds {
		return time.Time{}, fmt.Errorf("%v s is after 2262", f)
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64(math.Round((f-sec)*1e9))), nil
}
