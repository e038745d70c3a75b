package influx

import (
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"citywatch/store"
)

// Reasons a sample is refused before it is queued (bounded label values of
// citywatch_influx_rejected_samples_total).
const (
	reasonNonFinite = "non_finite" // NaN or ±Inf: line protocol has no such float
	reasonInvalid   = "invalid"    // name, label or time not encodable as line protocol
)

// fieldKey is the single field of every point.
const fieldKey = "value"

type tag struct{ k, v string }

// encoder turns samples into line protocol with the static tags merged in. It is not safe for concurrent
// use; Writer keeps a pool.
type encoder struct {
	enc    lineprotocol.Encoder
	static []tag // sorted
	// exported holds "exported_<name>" of each static tag, built once.
	exported []string
	tags     []tag
	// unit is the precision's length in nanoseconds.
	unit int64
}

func newEncoder(static []tag, p lineprotocol.Precision) *encoder {
	e := &encoder{static: static, exported: make([]string, len(static)), unit: int64(p.Duration())}
	for i, t := range static {
		e.exported[i] = "exported_" + t.k
	}
	e.enc.SetPrecision(p)
	return e
}

func sortedTags(m map[string]string) []tag {
	ts := make([]tag, 0, len(m))
	for k, v := range m {
		ts = append(ts, tag{k, v})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].k < ts[j].k })
	return ts
}

// encode appends one line (ending in '\n') for s to dst. On failure it returns dst unchanged and the
// rejection reason.
func (e *encoder) encode(dst []byte, s *store.Sample) ([]byte, string, error) {
	v, ok := lineprotocol.FloatValue(s.V)
	if !ok {
		return dst, reasonNonFinite, errors.New("value is not a finite number")
	}
	e.mergeTags(s.Labels)
	if out, ok := e.appendPlain(dst, s, v); ok {
		return out, "", nil
	}
	return e.encodeChecked(dst, s, v)
}

// encodeChecked encodes with line-protocol's encoder, which validates and escapes every name and value.
// Call after mergeTags.
func (e *encoder) encodeChecked(dst []byte, s *store.Sample, v lineprotocol.Value) ([]byte, string, error) {
	e.enc.SetBuffer(dst)
	e.enc.StartLine(s.Name)
	for _, t := range e.tags {
		e.enc.AddTag(t.k, t.v)
	}
	e.enc.AddField(fieldKey, v)
	e.enc.EndLine(time.UnixMilli(s.T))
	if err := e.enc.Err(); err != nil {
		return dst, reasonInvalid, err
	}
	return e.enc.Bytes(), "", nil
}

// plainMaxMillis bounds the timestamps appendPlain takes: inside the ±2^63 ns (±9.22e12 ms) line protocol
// can carry.
const plainMaxMillis = 9e12 // about the year 2255

// appendPlain appends the line encodeChecked would, when every string of it is plain (see isPlain) and the
// time is in range, and reports whether it did. The common line (ASCII names, labels and values) then costs
// no validation and escaping passes; anything else takes the checked encoder. Call after mergeTags (which
// leaves the tags sorted without duplicate keys, as the encoder demands).
func (e *encoder) appendPlain(dst []byte, s *store.Sample, v lineprotocol.Value) ([]byte, bool) {
	if s.T > plainMaxMillis || s.T < -plainMaxMillis || !isPlain(s.Name) {
		return dst, false
	}
	for _, t := range e.tags {
		if !isPlain(t.k) || !isPlain(t.v) {
			return dst, false
		}
	}
	out := append(dst, s.Name...)
	for _, t := range e.tags {
		out = append(out, ',')
		out = append(out, t.k...)
		out = append(out, '=')
		out = append(out, t.v...)
	}
	out = append(out, ' ')
	out = append(out, fieldKey...)
	out = append(out, '=')
	out = v.AppendBytes(out)
	out = append(out, ' ')
	out = strconv.AppendInt(out, s.T*int64(time.Millisecond)/e.unit, 10)
	return append(out, '\n'), true
}

// plainBytes are the bytes line protocol writes as they are in a measurement, tag key or tag value: printable
// ASCII but for the space, comma and equals sign it escapes, the backslash and quote that escaping and
// string fields give meaning to, and '#' that starts a comment line.
var plainBytes = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = true
	}
	for _, c := range ` ,="\#` {
		t[c] = false
	}
	return t
}()

// isPlain reports whether s is non-empty and made of plainBytes only.
func isPlain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plainBytes[s[i]] {
			return false
		}
	}
	return true
}

// mergeTags sets e.tags to the sample labels plus the static tags, sorted by name. Static tags win; a label
// that collides with a different value is kept as exported_<name>.
func (e *encoder) mergeTags(labels []store.Label) {
	e.tags = e.tags[:0]
	for _, l := range labels {
		if l.Value == "" {
			continue
		}
		i := sort.Search(len(e.static), func(i int) bool { return e.static[i].k >= l.Name })
		if i < len(e.static) && e.static[i].k == l.Name {
			if e.static[i].v == l.Value {
				continue
			}
			e.tags = append(e.tags, tag{e.exported[i], l.Value})
			continue
		}
		e.tags = append(e.tags, tag{l.Name, l.Value})
	}
	e.tags = append(e.tags, e.static...)
	sortTags(e.tags)
	// Duplicate keys (a label "exported_site" next to a renamed "site") would make the encoder fail on
	// ordering; keep the first.
	out := e.tags[:0]
	for _, t := range e.tags {
		if len(out) > 0 && out[len(out)-1].k == t.k {
			continue
		}
		out = append(out, t)
	}
	e.tags = out
}

// sortTags sorts ts by name, stably. A line has a handful of tags, mostly in order already: an insertion
// sort does that without the allocation sort.Slice makes for every line.
func sortTags(ts []tag) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].k < ts[j-1].k; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}
