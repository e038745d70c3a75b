// Package decode turns MQTT payloads into neutral records: JSON objects, Influx line protocol, plain numbers and
// SenML JSON (RFC 8428). It knows nothing about topics or metric naming; package mapping does that.
//
// The Decoder methods are built for the ingest hot path: they reuse the decoder's buffers and return records
// whose strings alias the payload and those buffers, so they are valid only until the next call on the same
// Decoder and only while the payload is unchanged. The package-level functions (JSON, LineProtocol, Number,
// SenML) return records that own their memory.
package decode

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"citywatch/store"
)

// Record is one decoded measurement: named numeric fields sharing tags and a time.
type Record struct {
	// Measurement is the Influx measurement; empty for the other formats.
	Measurement string
	// Tags are the Influx tags in payload order (names and values raw, not sanitized), or for SenML the
	// resolved unit as a "unit" tag. Empty values are never present.
	Tags []store.Label
	// Fields are the numeric values in payload order. JSON: the flattened field names; SenML: the resolved
	// record names; plain number: one field with an empty name.
	Fields []Field
	// Time is the time the payload gives; the zero Time means none.
	Time time.Time
}

// Field is one named numeric value.
type Field struct {
	Name  string
	Value float64
}

// ErrTimestamp is wrapped by every decoding error caused by a timestamp (malformed or out of range), so
// callers can tell a bad timestamp from a malformed payload with errors.Is.
var ErrTimestamp = errors.New("bad timestamp")

// ErrTooManyFields is wrapped by the error of a payload with more than Decoder.MaxFields fields.
var ErrTooManyFields = errors.New("too many fields")

// MaxDepth is the deepest nesting of JSON objects and arrays accepted; deeper payloads are rejected.
const MaxDepth = 16

// Format is a payload format.
type Format uint8

// The payload formats. FormatAuto means "detect from the payload" (see Detect).
const (
	FormatAuto Format = iota
	FormatJSON
	FormatLineProtocol
	FormatNumber
	FormatSenML
)

// String returns the configuration name of f: auto, json, influx, number or senml.
func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatJSON:
		return "json"
	case FormatLineProtocol:
		return "influx"
	case FormatNumber:
		return "number"
	case FormatSenML:
		return "senml"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat parses a configuration format name: "auto" (or ""), "json", "influx", "number" or "senml".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "auto":
		return FormatAuto, nil
	case "json":
		return FormatJSON, nil
	case "influx":
		return FormatLineProtocol, nil
	case "number":
		return FormatNumber, nil
	case "senml":
		return FormatSenML, nil
	}
	return FormatAuto, fmt.Errorf("unknown format %q (want auto, json, influx, number or senml)", s)
}

// Detect picks the format of payload by its first non-blank byte after an optional UTF-8 byte order mark:
// '{' is JSON, '[' is SenML, a digit, sign or '.' (or the whole payload being "true", "false" or a spelling of
// NaN or infinity) is a plain number, '"' or the whole payload "null" is JSON (which rejects it: the reading
// is not an object), anything else is line protocol. An Influx measurement that starts with a digit is
// therefore taken for a number: configure format influx for it. An empty or blank payload is reported as
// FormatNumber, whose decoder rejects it.
func Detect(payload []byte) Format {
	p := trimSpace(trimBOM(payload))
	if len(p) == 0 {
		return FormatNumber
	}
	switch c := p[0]; {
	case c == '{' || c == '"':
		return FormatJSON
	case c == '[':
		return FormatSenML
	case c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'):
		return FormatNumber
	}
	switch {
	case string(p) == "true" || string(p) == "false" || isNonFinite(p):
		return FormatNumber
	case string(p) == "null":
		return FormatJSON
	}
	return FormatLineProtocol
}

// bom is the UTF-8 byte order mark. RFC 8259 lets JSON parsers ignore it, and some Windows tools write it;
// every decoder skips it.
const bom = "\xef\xbb\xbf"

func trimBOM(b []byte) []byte {
	if len(b) >= len(bom) && string(b[:len(bom)]) == bom {
		return b[len(bom):]
	}
	return b
}

// isNonFinite reports whether b spells NaN or an infinity the way sensors and strconv do ("NaN", "-Inf",
// "+infinity", any case): such payloads are plain numbers the number decoder rejects by name.
func isNonFinite(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	switch strings.ToLower(string(b)) {
	case "nan", "inf", "infinity":
		return true
	}
	return false
}

// Precision is the unit of Influx line-protocol timestamps.
type Precision uint8

// The line-protocol precisions; the zero value is nanoseconds, the Influx default.
const (
	Nanosecond Precision = iota
	Microsecond
	Millisecond
	Second
)

// ParsePrecision parses a configuration precision: "ns" (or ""), "us" (or "µs"), "ms" or "s".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "", "ns":
		return Nanosecond, nil
	case "us", "µs":
		return Microsecond, nil
	case "ms":
		return Millisecond, nil
	case "s":
		return Second, nil
	}
	return Nanosecond, fmt.Errorf("unknown precision %q (want ns, us, ms or s)", s)
}

// String returns the configuration name of p.
func (p Precision) String() string {
	switch p {
	case Nanosecond:
		return "ns"
	case Microsecond:
		return "us"
	case Millisecond:
		return "ms"
	case Second:
		return "s"
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

func (p Precision) nanos() int64 {
	switch p {
	case Microsecond:
		return 1e3
	case Millisecond:
		return 1e6
	case Second:
		return 1e9
	}
	return 1
}

// Decoder decodes payloads, reusing its buffers from call to call. The records a method returns alias the
// payload and the decoder's buffers: they are valid until the next call on the Decoder. A Decoder must not be
// used by two goroutines at once; the zero value is ready to use.
type Decoder struct {
	// MaxFields, when > 0, is the most fields a payload may have: decoding stops with ErrTooManyFields at the
	// first field beyond it, so a huge payload costs no more than the limit in fields.
	MaxFields int

	records []Record
	spans   []recSpan
	fields  []Field
	tags    []store.Label
	arena   []byte
	path    []byte
	esc     []byte
}

// recSpan locates a record's fields and tags in the decoder's buffers while they may still grow.
type recSpan struct{ f0, f1, t0, t1 int }

func (d *Decoder) reset() {
	d.records = d.records[:0]
	d.spans = d.spans[:0]
	d.fields = d.fields[:0]
	d.tags = d.tags[:0]
	d.path = d.path[:0]
	// The arena is not truncated but replaced when it grows, and truncated here: strings handed out by the
	// previous call point into it and are documented to die with the next call.
	d.arena = d.arena[:0]
	// Don't pin huge buffers in a pooled decoder after one huge payload.
	if cap(d.arena) > 1<<20 {
		d.arena = nil
	}
	if cap(d.fields) > 1<<14 {
		d.fields = nil
	}
	if cap(d.records) > 1<<12 {
		d.records, d.spans = nil, nil
	}
	if cap(d.tags) > 1<<12 {
		d.tags = nil
	}
}

// tooMany returns an error wrapping ErrTooManyFields when the fields are past d.MaxFields.
func (d *Decoder) tooMany() error {
	if d.MaxFields > 0 && len(d.fields) > d.MaxFields {
		return fmt.Errorf("%w: more than %d", ErrTooManyFields, d.MaxFields)
	}
	return nil
}

// beginRecord starts a record whose fields and tags are the ones appended next.
func (d *Decoder) beginRecord(measurement string, t time.Time) {
	d.records = append(d.records, Record{Measurement: measurement, Time: t})
	d.spans = append(d.spans, recSpan{f0: len(d.fields), t0: len(d.tags)})
}

// finish fixes the records' Fields and Tags slices once the buffers no longer grow.
func (d *Decoder) finish() []Record {
	for i := range d.records {
		s := &d.spans[i]
		d.records[i].Fields = d.fields[s.f0:s.f1:s.f1]
		if s.t1 > s.t0 {
			d.records[i].Tags = d.tags[s.t0:s.t1:s.t1]
		} else {
			d.records[i].Tags = nil
		}
	}
	return d.records
}

// endRecord closes the record begun last.
func (d *Decoder) endRecord() {
	s := &d.spans[len(d.spans)-1]
	s.f1 = len(d.fields)
	s.t1 = len(d.tags)
}

// str copies b into the arena and returns it as a string that lives until the next call.
func (d *Decoder) str(b ...[]byte) string {
	n := 0
	for _, p := range b {
		n += len(p)
	}
	if n == 0 {
		return ""
	}
	d.grow(n)
	start := len(d.arena)
	for _, p := range b {
		d.arena = append(d.arena, p...)
	}
	return unsafe.String(&d.arena[start], n)
}

// cat concatenates a and b into the arena.
func (d *Decoder) cat(a, b string) string {
	n := len(a) + len(b)
	if n == 0 {
		return ""
	}
	d.grow(n)
	start := len(d.arena)
	d.arena = append(d.arena, a...)
	d.arena = append(d.arena, b...)
	return unsafe.String(&d.arena[start], n)
}

func (d *Decoder) grow(n int) {
	if cap(d.arena)-len(d.arena) < n {
		// Grow into a new array: strings already handed out keep pointing into the old one.
		c := 2 * cap(d.arena)
		if c < n+256 {
			c = n + 256
		}
		d.arena = make([]byte, 0, c)
	}
}

// alias returns b as a string without copying; b must stay unchanged while the string is used.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Decode decodes payload in format f, detecting it first when f is FormatAuto, and returns the records and
// the format used. prec applies to line protocol, now to SenML relative times.
func (d *Decoder) Decode(f Format, payload []byte, prec Precision, now time.Time) ([]Record, Format, error) {
	if f == FormatAuto {
		f = Detect(payload)
	}
	var recs []Record
	var err error
	switch f {
	case FormatJSON:
		recs, err = d.JSON(payload)
	case FormatLineProtocol:
		recs, err = d.LineProtocol(payload, prec)
	case FormatNumber:
		recs, err = d.Number(payload)
	case FormatSenML:
		recs, err = d.SenML(payload, now)
	default:
		return nil, f, fmt.Errorf("unknown format %d", f)
	}
	return recs, f, err
}

// Clone returns a deep copy of recs that shares no memory with a Decoder or a payload.
func Clone(recs []Record) []Record {
	if recs == nil {
		return nil
	}
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = Record{Measurement: strings.Clone(r.Measurement), Time: r.Time}
		if r.Tags != nil {
			out[i].Tags = make([]store.Label, len(r.Tags))
			for j, t := range r.Tags {
				out[i].Tags[j] = store.Label{Name: strings.Clone(t.Name), Value: strings.Clone(t.Value)}
			}
		}
		if r.Fields != nil {
			out[i].Fields = make([]Field, len(r.Fields))
			for j, f := range r.Fields {
				out[i].Fields[j] = Field{Name: strings.Clone(f.Name), Value: f.Value}
			}
		}
	}
	return out
}

// JSON decodes a JSON object payload; see Decoder.JSON.
func JSON(payload []byte) ([]Record, error) {
	var d Decoder
	recs, err := d.JSON(payload)
	return Clone(recs), err
}

// LineProtocol decodes Influx line protocol; see Decoder.LineProtocol.
func LineProtocol(payload []byte, prec Precision) ([]Record, error) {
	var d Decoder
	recs, err := d.LineProtocol(payload, prec)
	return Clone(recs), err
}

// Number decodes a plain number; see Decoder.Number.
func Number(payload []byte) ([]Record, error) {
	var d Decoder
	recs, err := d.Number(payload)
	return Clone(recs), err
}

// SenML decodes a SenML JSON pack; see Decoder.SenML.
func SenML(payload []byte, now time.Time) ([]Record, error) {
	var d Decoder
	recs, err := d.SenML(payload, now)
	return Clone(recs), err
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// dupTag returns a tag name that appears twice among ts.
func dupTag(ts []store.Label) (string, bool) {
	if len(ts) <= 32 {
		for i := 1; i < len(ts); i++ {
			for j := 0; j < i; j++ {
				if ts[i].Name == ts[j].Name {
					return ts[i].Name, true
				}
			}
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(ts))
	for _, t := range ts {
		if _, ok := seen[t.Name]; ok {
			return t.Name, true
		}
		seen[t.Name] = struct{}{}
	}
	return "", false
}

// dupName returns a name that appears twice among fs (quadratic only for few fields).
func dupName(fs []Field) (string, bool) {
	if len(fs) <= 32 {
		for i := 1; i < len(fs); i++ {
			for j := 0; j < i; j++ {
				if fs[i].Name == fs[j].Name {
					return fs[i].Name, true
				}
			}
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(fs))
	for _, f := range fs {
		if _, ok := seen[f.Name]; ok {
			return f.Name, true
		}
		seen[f.Name] = struct{}{}
	}
	return "", false
}
