package decode

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"citywatch/store"
)

// LineProtocol decodes Influx line protocol: one record per line (blank lines and # comments are skipped).
// Integer, unsigned, float and boolean fields become fields (booleans 1 and 0); string fields are ignored.
// Timestamps are integers in unit prec (nanoseconds by default, as in Influx); a line without one has the zero
// Time. The payload is decoded whole or not at all: one malformed line rejects it, so a message never lands
// half-stored. A field key or tag key that occurs twice in a line is malformed. A timestamp that does not fit
// int64 nanoseconds (after 2262) or is not after 1970 wraps ErrTimestamp. A leading UTF-8 byte order mark is
// skipped.
func (d *Decoder) LineProtocol(payload []byte, prec Precision) ([]Record, error) {
	d.reset()
	dec := lineprotocol.NewDecoderWithBytes(trimBOM(payload))
	for entry := 1; dec.Next(); entry++ {
		if err := d.line(dec, prec); err != nil {
			var de *lineprotocol.DecodeError
			if errors.As(err, &de) {
				return nil, err // carries its own line number
			}
			return nil, fmt.Errorf("entry %d: %w", entry, err)
		}
	}
	return d.finish(), nil
}

func (d *Decoder) line(dec *lineprotocol.Decoder, prec Precision) error {
	m, err := dec.Measurement()
	if err != nil {
		return err
	}
	d.beginRecord(d.str(m), time.Time{})
	t0 := len(d.tags)
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		d.tags = append(d.tags, store.Label{Name: d.str(k), Value: d.str(v)})
	}
	f0 := len(d.fields)
	fields := 0
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		fields++
		var f float64
		switch v.Kind() {
		case lineprotocol.Int:
			f = float64(v.IntV())
		case lineprotocol.Uint:
			f = float64(v.UintV())
		case lineprotocol.Float:
			f = v.FloatV()
		case lineprotocol.Bool:
			if v.BoolV() {
				f = 1
			}
		default:
			continue // string fields carry no reading
		}
		d.fields = append(d.fields, Field{Name: d.str(k), Value: f})
		if err := d.tooMany(); err != nil {
			return err
		}
	}
	if fields == 0 {
		return errors.New("no fields")
	}
	if name, dup := dupName(d.fields[f0:]); dup {
		return fmt.Errorf("field %.80q occurs twice", name)
	}
	if name, dup := dupTag(d.tags[t0:]); dup {
		return fmt.Errorf("tag %.80q occurs twice", name)
	}
	tb, err := dec.TimeBytes()
	if err != nil {
		return err
	}
	if tb != nil {
		t, err := lineTime(tb, prec)
		if err != nil {
			return err
		}
		d.records[len(d.records)-1].Time = t
	}
	d.endRecord()
	return nil
}

func lineTime(b []byte, prec Precision) (time.Time, error) {
	n, err := strconv.ParseInt(alias(b), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %.40q is not an int64", ErrTimestamp, b)
	}
	mul := prec.nanos()
	if n <= 0 {
		// Influx takes times back to 1677; a sensor reading from before 1970 is a broken clock, as in JSON.
		return time.Time{}, fmt.Errorf("%w: %d%s is not after 1970", ErrTimestamp, n, prec)
	}
	if n > math.MaxInt64/mul {
		return time.Time{}, fmt.Errorf("%w: %d%s does not fit int64 nanoseconds", ErrTimestamp, n, prec)
	}
	return time.Unix(0, n*mul), nil
}
