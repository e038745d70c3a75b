package decode

import (
	"fmt"
	"math"
	"time"

	"citywatch/store"
)

// senmlRelative is the RFC 8428 bound: resolved times below 2^28 seconds are relative to now.
const senmlRelative = 1 << 28

// maxRelative bounds how far in the past a relative SenML time may point (about 95 years).
const maxRelative = 3e9

// SenML decodes a SenML JSON pack (RFC 8428): a JSON array of records, each giving one record here.
//
//   - Base fields bn, bt, bu, bv and bs apply to their record and every later one until changed; the name is
//     bn+n, the time bt+t, the unit u or else bu, the value bv+v, the sum bs+s.
//   - A resolved time below 2^28 is seconds relative to now (negative: in the past), else Unix seconds.
//   - v (plus bv) and vb (true=1, false=0) give a field named after the record; a sum s (plus bs) is a value
//     too: it is the field when the record has no v/vb, else a second field named <name>_sum. Records with
//     only vs or vd (string and data values) carry no number and are skipped; so are records with no value.
//   - The resolved unit, when there is one, is the record's "unit" tag.
//   - Names are returned as resolved; the mapping sanitizes them.
//
// Rejected: a top level that is not an array, a record that is not an object, a field of the wrong type, a
// record with more than one of v, vs, vb, vd, an empty resolved name for a record with a value, a key that
// occurs twice in a record, a key ending in "_" (RFC 8428 "must understand" fields we don't), NaN/Inf and
// overflowing numbers, strings that are not valid UTF-8, and nesting deeper than MaxDepth inside ignored fields.
// Times out of range wrap ErrTimestamp. A leading UTF-8 byte order mark is skipped.
func (d *Decoder) SenML(payload []byte, now time.Time) ([]Record, error) {
	d.reset()
	s := scanner{data: trimBOM(payload)}
	if s.peek() != '[' {
		return nil, s.errorf("expected a JSON array")
	}
	var base senmlBase
	if !s.open(']') {
		for i := 0; ; i++ {
			if err := d.senmlRecord(&s, &base, now); err != nil {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
			if !s.comma() {
				break
			}
		}
		if err := s.end(']'); err != nil {
			return nil, err
		}
	}
	if s.ws(); s.pos < len(s.data) {
		return nil, s.errorf("unexpected data after the array")
	}
	return d.finish(), nil
}

type senmlBase struct {
	name, unit string
	time       float64
	value, sum float64
}

// SenML record keys we understand, as bits for duplicate detection.
const (
	kBN = 1 << iota
	kBT
	kBU
	kBV
	kBS
	kBVer
	kN
	kU
	kV
	kVS
	kVB
	kVD
	kS
	kT
	kUT
)

// senmlKey returns the bit of a SenML key we understand, or 0.
func senmlKey(k []byte) int {
	switch string(k) {
	case "bn":
		return kBN
	case "bt":
		return kBT
	case "bu":
		return kBU
	case "bv":
		return kBV
	case "bs":
		return kBS
	case "bver":
		return kBVer
	case "n":
		return kN
	case "u":
		return kU
	case "v":
		return kV
	case "vs":
		return kVS
	case "vb":
		return kVB
	case "vd":
		return kVD
	case "s":
		return kS
	case "t":
		return kT
	case "ut":
		return kUT
	}
	return 0
}

type senmlRec struct {
	seen         int
	bn, bu, n, u string
	bt, bv, bs   float64
	v, s, t      float64
	vb           bool
}

func (d *Decoder) senmlRecord(s *scanner, base *senmlBase, now time.Time) error {
	if s.peek() != '{' {
		return s.errorf("expected a JSON object")
	}
	var r senmlRec
	if !s.open('}') {
		for {
			if s.peek() != '"' {
				return s.errorf("expected object key")
			}
			key, _, err := s.str(d.esc[:0])
			if err != nil {
				return err
			}
			k := senmlKey(key)
			if k == 0 && len(key) > 0 && key[len(key)-1] == '_' {
				return fmt.Errorf("must-understand field %.40q not supported", key)
			}
			if r.seen&k != 0 {
				return fmt.Errorf("key %q occurs twice", key)
			}
			r.seen |= k
			if err := s.expect(':'); err != nil {
				return err
			}
			if err := d.senmlField(s, k, &r); err != nil {
				return err
			}
			if !s.comma() {
				break
			}
		}
		if err := s.end('}'); err != nil {
			return err
		}
	}
	return d.senmlResolve(&r, base, now)
}

func (d *Decoder) senmlField(s *scanner, k int, r *senmlRec) error {
	c := s.peek()
	switch k {
	case 0:
		return s.skipValue(2)
	case kBN, kBU, kN, kU:
		if c != '"' {
			return s.errorf("expected a string")
		}
		v, escaped, err := s.str(d.esc[:0])
		if err != nil {
			return err
		}
		str := alias(v)
		if escaped {
			str = d.str(v)
		}
		switch k {
		case kBN:
			r.bn = str
		case kBU:
			r.bu = str
		case kN:
			r.n = str
		case kU:
			r.u = str
		}
		return nil
	case kVS, kVD:
		if c != '"' {
			return s.errorf("expected a string")
		}
		return s.skipString()
	case kVB:
		if c != 't' && c != 'f' {
			return s.errorf("expected a boolean")
		}
		v, err := s.literal()
		if err != nil {
			return err
		}
		if v < 0 {
			return s.errorf("expected a boolean")
		}
		r.vb = v == 1
		return nil
	}
	if c != '-' && (c < '0' || c > '9') {
		return s.errorf("expected a number")
	}
	f, err := s.number()
	if err != nil {
		return err
	}
	switch k {
	case kBT:
		r.bt = f
	case kBV:
		r.bv = f
	case kBS:
		r.bs = f
	case kV:
		r.v = f
	case kS:
		r.s = f
	case kT:
		r.t = f
	}
	return nil
}

func (d *Decoder) senmlResolve(r *senmlRec, base *senmlBase, now time.Time) error {
	if r.seen&kBN != 0 {
		base.name = r.bn
	}
	if r.seen&kBT != 0 {
		base.time = r.bt
	}
	if r.seen&kBU != 0 {
		base.unit = r.bu
	}
	if r.seen&kBV != 0 {
		base.value = r.bv
	}
	if r.seen&kBS != 0 {
		base.sum = r.bs
	}
	values := 0
	for _, k := range []int{kV, kVS, kVB, kVD} {
		if r.seen&k != 0 {
			values++
		}
	}
	if values > 1 {
		return fmt.Errorf("more than one of v, vs, vb, vd")
	}
	numeric := r.seen&(kV|kVB) != 0
	hasSum := r.seen&kS != 0
	if !numeric && !hasSum {
		return nil // no number in this record
	}
	name := r.n
	switch {
	case base.name != "" && r.n != "":
		name = d.cat(base.name, r.n)
	case base.name != "":
		name = base.name
	}
	if name == "" {
		return fmt.Errorf("record has a value but no name")
	}
	t, err := senmlTime(base.time+r.t, now)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	unit := base.unit
	if r.seen&kU != 0 {
		unit = r.u
	}
	d.beginRecord("", t)
	if unit != "" {
		d.tags = append(d.tags, store.Label{Name: "unit", Value: unit})
	}
	switch {
	case r.seen&kV != 0:
		v := base.value + r.v
		if math.IsInf(v, 0) {
			return fmt.Errorf("value overflows")
		}
		d.fields = append(d.fields, Field{Name: name, Value: v})
	case r.seen&kVB != 0:
		v := 0.0
		if r.vb {
			v = 1
		}
		d.fields = append(d.fields, Field{Name: name, Value: v})
	}
	if hasSum {
		sum := base.sum + r.s
		if math.IsInf(sum, 0) {
			return fmt.Errorf("sum overflows")
		}
		sumName := name
		if numeric {
			sumName = d.cat(name, "_sum")
		}
		d.fields = append(d.fields, Field{Name: sumName, Value: sum})
	}
	d.endRecord()
	return d.tooMany()
}

// senmlTime resolves a SenML time: below 2^28 it is seconds relative to now, else Unix seconds.
func senmlTime(t float64, now time.Time) (time.Time, error) {
	if math.IsInf(t, 0) {
		return time.Time{}, fmt.Errorf("time overflows")
	}
	if t < senmlRelative {
		if t < -maxRelative {
			return time.Time{}, fmt.Errorf("relative time %v s out of range", t)
		}
		return now.Add(time.Duration(t * 1e9)), nil
	}
	return secondsTime(t)
}
