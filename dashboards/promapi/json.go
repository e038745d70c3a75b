package promapi

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/stats"
)

// The response envelope, as Prometheus writes it:
//
//	{"status":"success","data":...,"warnings":[...],"infos":[...]}
//	{"status":"error","errorType":"bad_data","error":"..."}
//
// Query results are written by hand with Prometheus' number formatting (util/jsonutil, web/api/v1
// json_codec.go): timestamps as Unix seconds with millisecond decimals, values as strings ("NaN", "+Inf"
// included), histograms as {"count","sum","buckets"}. Writing by hand keeps large range answers fast without
// importing web/api/v1 (its whole web stack and its global jsoniter codec registration).

// queryData is the data of a query or query_range answer.
type queryData struct {
	result parser.Value
	stats  stats.QueryStats
}

// exemplarsData is the (always empty) data of a query_exemplars answer.
type exemplarsData struct{}

// encodeSuccess renders a success envelope.
func encodeSuccess(buf []byte, data any, warnings, infos []string) ([]byte, error) {
	b := append(buf, `{"status":"success","data":`...)
	b, err := appendData(b, data)
	if err != nil {
		return nil, err
	}
	b = appendStringsField(b, "warnings", warnings)
	b = appendStringsField(b, "infos", infos)
	return append(b, '}'), nil
}

// encodeError renders an error envelope.
func encodeError(typ, msg string, warnings []string) []byte {
	b := []byte(`{"status":"error","errorType":`)
	b = appendString(b, typ)
	b = append(b, `,"error":`...)
	b = appendString(b, msg)
	b = appendStringsField(b, "warnings", warnings)
	return append(b, '}')
}

func appendStringsField(b []byte, field string, vs []string) []byte {
	if len(vs) == 0 {
		return b
	}
	b = append(b, ',')
	b = appendString(b, field)
	b = append(b, ':')
	return appendStrings(b, vs)
}

func appendStrings(b []byte, vs []string) []byte {
	return appendArray(b, vs, appendString)
}

// appendArray writes xs as a JSON array, each element with appendElem.
func appendArray[T any](b []byte, xs []T, appendElem func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendElem(b, x)
	}
	return append(b, ']')
}

func appendData(b []byte, data any) ([]byte, error) {
	switch d := data.(type) {
	case *queryData:
		b = append(b, `{"resultType":`...)
		b = appendString(b, string(d.result.Type()))
		b = append(b, `,"result":`...)
		b = appendValue(b, d.result)
		if d.stats != nil {
			js, err := json.Marshal(d.stats)
			if err != nil {
				return nil, err
			}
			b = append(b, `,"stats":`...)
			b = append(b, js...)
		}
		return append(b, '}'), nil
	case []string:
		return appendStrings(b, d), nil
	case []labels.Labels:
		return appendArray(b, d, appendLabels), nil
	case exemplarsData:
		return append(b, "[]"...), nil
	default:
		js, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		return append(b, js...), nil
	}
}

func appendValue(b []byte, v parser.Value) []byte {
	switch v := v.(type) {
	case promql.Matrix:
		return appendArray(b, v, appendSeries)
	case promql.Vector:
		return appendArray(b, v, appendSample)
	case promql.Scalar:
		return appendFPoint(b, v.T, v.V)
	case promql.String:
		b = append(b, '[')
		b = appendTimestamp(b, v.T)
		b = append(b, ',')
		b = appendString(b, v.V)
		return append(b, ']')
	}
	return append(b, "null"...)
}

func appendLabels(b []byte, ls labels.Labels) []byte {
	b = append(b, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, l.Name)
		b = append(b, ':')
		b = appendString(b, l.Value)
	})
	return append(b, '}')
}

func appendSeries(b []byte, s promql.Series) []byte {
	b = append(b, `{"metric":`...)
	b = appendLabels(b, s.Metric)
	if len(s.Floats) > 0 {
		b = append(b, `,"values":`...)
		b = appendArray(b, s.Floats, func(b []byte, p promql.FPoint) []byte { return appendFPoint(b, p.T, p.F) })
	}
	if len(s.Histograms) > 0 {
		b = append(b, `,"histograms":`...)
		b = appendArray(b, s.Histograms, func(b []byte, p promql.HPoint) []byte { return appendHPoint(b, p.T, p.H) })
	}
	return append(b, '}')
}

func appendSample(b []byte, s promql.Sample) []byte {
	b = append(b, `{"metric":`...)
	b = appendLabels(b, s.Metric)
	if s.H == nil {
		b = append(b, `,"value":`...)
		b = appendFPoint(b, s.T, s.F)
	} else {
		b = append(b, `,"histogram":`...)
		b = appendHPoint(b, s.T, s.H)
	}
	return append(b, '}')
}

// appendFPoint writes [<unix seconds>,"<value>"].
func appendFPoint(b []byte, t int64, v float64) []byte {
	b = append(b, '[')
	b = appendTimestamp(b, t)
	b = append(b, ',')
	b = appendFloat(b, v)
	return append(b, ']')
}

func appendHPoint(b []byte, t int64, h *histogram.FloatHistogram) []byte {
	b = append(b, '[')
	b = appendTimestamp(b, t)
	b = append(b, ',')
	b = appendHistogram(b, h)
	return append(b, ']')
}

// appendTimestamp writes a millisecond timestamp as Unix seconds with up to three decimals, like Prometheus'
// jsonutil.MarshalTimestamp (1435781451.781, 1435781451.05, 1435781451).
func appendTimestamp(b []byte, t int64) []byte {
	u := uint64(t)
	if t < 0 {
		b = append(b, '-')
		u = uint64(-t) // Two's complement: also right for math.MinInt64.
	}
	b = strconv.AppendUint(b, u/1000, 10)
	if frac := u % 1000; frac != 0 {
		b = append(b, '.')
		if frac < 100 {
			b = append(b, '0')
		}
		if frac < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendUint(b, frac, 10)
	}
	return b
}

// appendFloat writes a sample value as a JSON string, like Prometheus' jsonutil.MarshalFloat.
func appendFloat(b []byte, f float64) []byte {
	b = append(b, '"')
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	return append(b, '"')
}

// appendHistogram writes a native histogram like Prometheus' jsonutil.MarshalHistogram.
func appendHistogram(b []byte, h *histogram.FloatHistogram) []byte {
	b = append(b, `{"count":`...)
	b = appendFloat(b, h.Count)
	b = append(b, `,"sum":`...)
	b = appendFloat(b, h.Sum)
	found := false
	it := h.AllBucketIterator()
	for it.Next() {
		bucket := it.At()
		if bucket.Count == 0 {
			continue // Empty buckets are not exposed.
		}
		if found {
			b = append(b, ',')
		} else {
			b = append(b, `,"buckets":[`...)
			found = true
		}
		boundaries := 2 // Exclusive on both sides.
		switch {
		case bucket.LowerInclusive && bucket.UpperInclusive:
			boundaries = 3
		case bucket.LowerInclusive:
			boundaries = 1
		case bucket.UpperInclusive:
			boundaries = 0
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(boundaries), 10)
		b = append(b, ',')
		b = appendFloat(b, bucket.Lower)
		b = append(b, ',')
		b = appendFloat(b, bucket.Upper)
		b = append(b, ',')
		b = appendFloat(b, bucket.Count)
		b = append(b, ']')
	}
	if found {
		b = append(b, ']')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string exactly as encoding/json does (HTML-safe escaping, invalid UTF-8
// replaced by U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
