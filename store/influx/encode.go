package influx

import (
	"errors"
	"sort"
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
	tags   []tag
}

func newEncoder(static []tag, p lineprotocol.Precision) *encoder {
	e := &encoder{static: static}
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
			e.tags = append(e.tags, tag{"exported_" + l.Name, l.Value})
			continue
		}
		e.tags = append(e.tags, tag{l.Name, l.Value})
	}
	e.tags = append(e.tags, e.static...)
	sort.Slice(e.tags, func(i, j int) bool { return e.tags[i].k < e.tags[j].k })
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
