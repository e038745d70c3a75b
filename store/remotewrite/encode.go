package remotewrite

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"citywatch/store"
)

// A queue record is one format byte followed by the data. recordSnappyV1 is a snappy block of a serialized
// prometheus.WriteRequest. Serialized WriteRequests concatenate into the WriteRequest holding all their
// series (protobuf repeated fields), so a batch of records becomes one request without re-encoding samples.
const recordSnappyV1 byte = 1

// Rejection reasons of citywatch_remote_write_rejected_samples_total.
const (
	reasonInvalid = "invalid"
)

// encoder turns samples into queue records. It is not safe for concurrent use (Writer pools them).
type encoder struct {
	ext []prompb.Label // external labels, sorted by name

	req    prompb.WriteRequest
	labels []prompb.Label  // arena of the series' labels
	points []prompb.Sample // arena of the series' samples
	pb     []byte
	rec    []byte
	n      int // points pending

	prevName   string
	prevLabels []store.Label
}

func newEncoder(ext map[string]string) *encoder {
	e := &encoder{}
	for k, v := range ext {
		e.ext = append(e.ext, prompb.Label{Name: k, Value: v})
	}
	slices.SortFunc(e.ext, compareLabels)
	return e
}

func (e *encoder) reset() {
	e.req.Timeseries = e.req.Timeseries[:0]
	e.labels = e.labels[:0]
	e.points = e.points[:0]
	e.n = 0
	e.prevName, e.prevLabels = "", nil
}

// add appends s to the pending request: a new series, or one more point of the previous series when s
// continues it. It returns an error for a sample no receiver can take.
func (e *encoder) add(s *store.Sample) error {
	if err := checkSample(s); err != nil {
		return err
	}
	if n := len(e.req.Timeseries); n > 0 && s.Name == e.prevName && slices.Equal(s.Labels, e.prevLabels) {
		ts := &e.req.Timeseries[n-1]
		if ts.Samples[len(ts.Samples)-1].Timestamp < s.T {
			if len(ts.Samples) == 1 {
				// The first point lives in the arena: give the series its own slice before growing it.
				ts.Samples = slices.Clip(ts.Samples)
			}
			ts.Samples = append(ts.Samples, prompb.Sample{Value: s.V, Timestamp: s.T})
			e.n++
			return nil
		}
	}
	start := len(e.labels)
	e.mergeLabels(s)
	ls := e.labels[start:len(e.labels):len(e.labels)]
	if !slices.IsSortedFunc(ls, compareLabels) {
		// Producers keep labels sorted (store.Sample); this only guards the receiver against one that does not.
		slices.SortFunc(ls, compareLabels)
	}
	p := len(e.points)
	e.points = append(e.points, prompb.Sample{Value: s.V, Timestamp: s.T})
	e.req.Timeseries = append(e.req.Timeseries, prompb.TimeSeries{Labels: ls, Samples: e.points[p : p+1 : p+1]})
	e.prevName, e.prevLabels = s.Name, s.Labels
	e.n++
	return nil
}

// mergeLabels appends the series labels of s to the arena in name order: __name__, the sample's own labels
// (sorted by contract) and the external labels the sample does not have, in one merge.
func (e *encoder) mergeLabels(s *store.Sample) {
	ins := 0
	for ins < len(s.Labels) && s.Labels[ins].Name < "__name__" {
		ins++
	}
	own := func(i int) prompb.Label {
		switch {
		case i < ins:
			return prompb.Label{Name: s.Labels[i].Name, Value: s.Labels[i].Value}
		case i == ins:
			return prompb.Label{Name: "__name__", Value: s.Name}
		default:
			return prompb.Label{Name: s.Labels[i-1].Name, Value: s.Labels[i-1].Value}
		}
	}
	n, i, j := len(s.Labels)+1, 0, 0
	for i < n || j < len(e.ext) {
		if j == len(e.ext) {
			e.labels = append(e.labels, own(i))
			i++
			continue
		}
		if i == n {
			e.labels = append(e.labels, e.ext[j])
			j++
			continue
		}
		l := own(i)
		switch {
		case l.Name < e.ext[j].Name:
			e.labels = append(e.labels, l)
			i++
		case l.Name == e.ext[j].Name:
			// The sample's own label wins over an external label (Prometheus' external_labels rule).
			e.labels = append(e.labels, l)
			i++
			j++
		default:
			e.labels = append(e.labels, e.ext[j])
			j++
		}
	}
}

func compareLabels(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }

// checkSample refuses what a receiver would refuse for the whole request: an empty or non-UTF-8 name, label
// names or values, a reserved label name.
func checkSample(s *store.Sample) error {
	if s.Name == "" || !utf8.ValidString(s.Name) {
		return fmt.Errorf("invalid metric name %q", s.Name)
	}
	for _, l := range s.Labels {
		if l.Name == "" || l.Name == "__name__" || !utf8.ValidString(l.Name) || !utf8.ValidString(l.Value) {
			return fmt.Errorf("invalid label %q=%q", l.Name, l.Value)
		}
	}
	return nil
}

// record serializes the pending request into a queue record (appended to dst).
func (e *encoder) record(dst []byte) ([]byte, error) {
	var err error
	e.pb, err = marshalV1(e.pb[:0], &e.req)
	if err != nil {
		return dst, err
	}
	return appendRecord(dst, e.pb), nil
}

func marshalV1(dst []byte, req *prompb.WriteRequest) ([]byte, error) {
	n := req.Size()
	dst = slices.Grow(dst[:0], n)[:n]
	m, err := req.MarshalToSizedBuffer(dst)
	if err != nil {
		return dst, fmt.Errorf("remotewrite: marshal: %w", err)
	}
	return dst[:m], nil
}

func appendRecord(dst, pb []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, 1+snappy.MaxEncodedLen(len(pb)))
	dst = append(dst, recordSnappyV1)
	enc := snappy.Encode(dst[start+1:cap(dst)], pb)
	return dst[:start+1+len(enc)]
}

func countPoints(series []prompb.TimeSeries) int {
	n := 0
	for i := range series {
		n += len(series[i].Samples)
	}
	return n
}

// errBadRecord is a queue record this version cannot decode.
var errBadRecord = errors.New("remotewrite: unknown queue record format")

// decodeRecords appends the serialized WriteRequest of every record to dst.
func decodeRecords(dst []byte, records [][]byte) ([]byte, error) {
	for _, r := range records {
		if len(r) == 0 || r[0] != recordSnappyV1 {
			return dst, errBadRecord
		}
		n, err := snappy.DecodedLen(r[1:])
		if err != nil {
			return dst, fmt.Errorf("remotewrite: queue record: %w", err)
		}
		start := len(dst)
		dst = slices.Grow(dst, n)
		if _, err := snappy.Decode(dst[start:start+n], r[1:]); err != nil {
			return dst[:start], fmt.Errorf("remotewrite: queue record: %w", err)
		}
		dst = dst[:start+n]
	}
	return dst, nil
}

// toV2 converts a 1.0 request into a 2.0 request with a symbol table.
func toV2(req *prompb.WriteRequest) *writev2.Request {
	st := writev2.NewSymbolTable()
	out := &writev2.Request{Timeseries: make([]writev2.TimeSeries, len(req.Timeseries))}
	for i, ts := range req.Timeseries {
		refs := make([]uint32, 0, 2*len(ts.Labels))
		for _, l := range ts.Labels {
			refs = append(refs, st.Symbolize(l.Name), st.Symbolize(l.Value))
		}
		samples := make([]writev2.Sample, len(ts.Samples))
		for j, s := range ts.Samples {
			samples[j] = writev2.Sample{Value: s.Value, Timestamp: s.Timestamp}
		}
		out.Timeseries[i] = writev2.TimeSeries{LabelsRefs: refs, Samples: samples,
			Metadata: writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE}}
	}
	out.Symbols = st.Symbols()
	return out
}

// exposition renders the series of req as Prometheus text exposition lines with timestamps, one per sample,
// for the dead-letter file (VictoriaMetrics' /api/v1/import/prometheus takes them back).
func exposition(req *prompb.WriteRequest) []string {
	var lines []string
	var b strings.Builder
	for _, ts := range req.Timeseries {
		b.Reset()
		name := ""
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				name = l.Value
			}
		}
		b.WriteString(name)
		b.WriteByte('{')
		first := true
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(l.Name)
			b.WriteString(`="`)
			b.WriteString(escapeLabelValue(l.Value))
			b.WriteByte('"')
		}
		b.WriteByte('}')
		series := b.String()
		for _, s := range ts.Samples {
			lines = append(lines, series+" "+formatFloat(s.Value)+" "+strconv.FormatInt(s.Timestamp, 10))
		}
	}
	return lines
}

var labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func escapeLabelValue(s string) string { return labelValueEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
