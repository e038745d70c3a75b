package influx

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

var (
	// InfluxDB 1.x/2.x: partial write: field type conflict: input field "value" on measurement "m" is type
	// float, already exists as type string dropped=1
	conflictRE = regexp.MustCompile(`input field "((?:[^"\\]|\\.)*)" on measurement "((?:[^"\\]|\\.)*)" is type (\w+)`)
	// InfluxDB Cloud / 2.x: "errors encountered on line(s): line 2: ..." and "line 3: ..."
	lineNoRE = regexp.MustCompile(`\bline (\d+):`)
)

var fieldKinds = map[string]lineprotocol.ValueKind{
	"float":    lineprotocol.Float,
	"integer":  lineprotocol.Int,
	"unsigned": lineprotocol.Uint,
	"string":   lineprotocol.String,
	"boolean":  lineprotocol.Bool,
}

// badLines returns the indexes of the lines that msg, the error message of a 400/422 write response, names as
// refused. It understands InfluxDB's "unable to parse '<line>'", "line <n>:" and field type conflict
// messages; an empty result means the caller must find the lines by bisection.
func badLines(lines []string, msg string) []int {
	bad := map[int]bool{}
	if strings.Contains(msg, "unable to parse '") {
		for i, l := range lines {
			if strings.Contains(msg, "unable to parse '"+l+"'") {
				bad[i] = true
			}
		}
	}
	for _, m := range lineNoRE.FindAllStringSubmatch(msg, -1) {
		n, err := strconv.Atoi(m[1])
		if err == nil && n >= 1 && n <= len(lines) {
			bad[n-1] = true
		}
	}
	for _, m := range conflictRE.FindAllStringSubmatch(msg, -1) {
		kind, ok := fieldKinds[m[3]]
		if !ok {
			continue
		}
		field, meas := unquote(m[1]), unquote(m[2])
		for i, l := range lines {
			if lineHasField(l, meas, field, kind) {
				bad[i] = true
			}
		}
	}
	out := make([]int, 0, len(bad))
	for i := range lines {
		if bad[i] {
			out = append(out, i)
		}
	}
	return out
}

func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + s + `"`); err == nil {
		return u
	}
	return s
}

// lineHasField reports whether line is a point of measurement meas with field of the given kind.
func lineHasField(line, meas, field string, kind lineprotocol.ValueKind) bool {
	dec := lineprotocol.NewDecoderWithBytes([]byte(line))
	if !dec.Next() {
		return false
	}
	m, err := dec.Measurement()
	if err != nil || string(m) != meas {
		return false
	}
	for {
		k, _, err := dec.NextTag()
		if err != nil {
			return false
		}
		if k == nil {
			break
		}
	}
	for {
		k, v, err := dec.NextField()
		if err != nil || k == nil {
			return false
		}
		if string(k) == field {
			return v.Kind() == kind
		}
	}
}
